package crypto

import (
	"bytes"
	"crypto/aes"
	"errors"
	"math/rand/v2"
	"testing"
)

// aesDecryptBlock is the stdlib inverse cipher, used to choose inputs whose
// intermediate values are published test values.
func aesDecryptBlock(t *testing.T, key, block []byte) []byte {
	t.Helper()
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, aes.BlockSize)
	c.Decrypt(out, block)
	return out
}

// The data is CBC-encrypted under the layer key with the IV encrypted ONCE by
// the IV key. Choosing the incoming IV as D_ivKey(000102…0f) makes that
// once-encrypted IV the NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt) IV, so the
// first four data blocks must be that vector's ciphertext.
func TestTunnelLayerEncryptsDataWithOnceEncryptedIV(t *testing.T) {
	layerKey := [32]byte(unhex(t, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"))
	ivKey := [32]byte(seq(0xa0, 32))
	plain := unhex(t, `
		6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
		30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`)
	want := unhex(t, `
		f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
		39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b`)

	var msg [TunnelMessageSize]byte
	copy(msg[:16], aesDecryptBlock(t, ivKey[:], seq(0, 16)))
	copy(msg[16:], plain)
	NewTunnelLayer(&layerKey, &ivKey).EncryptLayer(&msg)
	if got := msg[16 : 16+len(want)]; !bytes.Equal(got, want) {
		t.Fatalf("data = %x\nwant   %x", got, want)
	}
}

// The outgoing IV is the incoming IV encrypted TWICE by the IV key. With the
// incoming IV chosen as D(00112233…ff), the outgoing IV is
// E(00112233…ff) under the FIPS-197 Appendix C.3 key 000102…1f, the
// published 8ea2b7ca516745bfeafc49904b496089.
func TestTunnelLayerEncryptsIVTwice(t *testing.T) {
	ivKey := [32]byte(seq(0, 32))
	layerKey := [32]byte(seq(0x55, 32))
	var msg [TunnelMessageSize]byte
	copy(msg[:16], aesDecryptBlock(t, ivKey[:], unhex(t, "00112233445566778899aabbccddeeff")))
	NewTunnelLayer(&layerKey, &ivKey).EncryptLayer(&msg)
	if want := unhex(t, "8ea2b7ca516745bfeafc49904b496089"); !bytes.Equal(msg[:16], want) {
		t.Fatalf("outgoing IV = %x, want %x", msg[:16], want)
	}
}

func randomMessage(r *rand.ChaCha8) *[TunnelMessageSize]byte {
	var m [TunnelMessageSize]byte
	r.Read(m[:])
	return &m
}

func TestTunnelLayerDecryptInvertsEncrypt(t *testing.T) {
	r := rand.NewChaCha8([32]byte(seq(7, 32)))
	for range 20 {
		var lk, ik [32]byte
		r.Read(lk[:])
		r.Read(ik[:])
		l := NewTunnelLayer(&lk, &ik)
		orig := randomMessage(r)

		m := *orig
		l.EncryptLayer(&m)
		if m == *orig {
			t.Fatal("EncryptLayer changed nothing")
		}
		l.DecryptLayer(&m)
		if m != *orig {
			t.Fatal("DecryptLayer(EncryptLayer(m)) != m")
		}
		// The outbound gateway decrypts first and the hop encrypts later.
		l.DecryptLayer(&m)
		l.EncryptLayer(&m)
		if m != *orig {
			t.Fatal("EncryptLayer(DecryptLayer(m)) != m")
		}
	}
}

// The two tunnel directions end to end over three hops: the outbound gateway
// pre-decrypts with hop 3, 2, 1 and each hop's encryption peels one layer,
// so the outbound endpoint sees the plaintext; on an inbound tunnel the
// gateway and every hop encrypt and the creator decrypts with hop 3, 2, 1.
func TestTunnelLayersComposeAcrossHops(t *testing.T) {
	r := rand.NewChaCha8([32]byte(seq(0x31, 32)))
	hops := make([]*TunnelLayer, 3)
	for i := range hops {
		var lk, ik [32]byte
		r.Read(lk[:])
		r.Read(ik[:])
		hops[i] = NewTunnelLayer(&lk, &ik)
	}
	plain := randomMessage(r)

	// Outbound.
	m := *plain
	for i := len(hops) - 1; i >= 0; i-- {
		hops[i].DecryptLayer(&m)
	}
	for _, h := range hops {
		h.EncryptLayer(&m)
	}
	if m != *plain {
		t.Fatal("outbound endpoint does not recover the gateway's plaintext")
	}

	// Inbound.
	m = *plain
	for _, h := range hops {
		h.EncryptLayer(&m)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hops[i].DecryptLayer(&m)
	}
	if m != *plain {
		t.Fatal("inbound endpoint does not recover the gateway's plaintext")
	}

	// Hops applied out of order must not cancel.
	m = *plain
	hops[0].DecryptLayer(&m)
	hops[1].DecryptLayer(&m)
	hops[0].EncryptLayer(&m)
	hops[1].EncryptLayer(&m)
	if m == *plain {
		t.Fatal("layers in the wrong order still recover the plaintext")
	}
}

// NIST SP 800-38A F.2.5/F.2.6 (CBC-AES256), split in two calls to check that
// the returned block continues the chain, as NTCP2 message 2 continues
// message 1's AES state.
func TestAESCBCMatchesSP80038AAndChains(t *testing.T) {
	key := [32]byte(unhex(t, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"))
	iv := [16]byte(seq(0, 16))
	plain := unhex(t, `
		6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
		30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`)
	want := unhex(t, `
		f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
		39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b`)

	got := make([]byte, 64)
	next, err := AESCBCEncrypt(&key, iv, got[:32], plain[:32])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(next[:], want[16:32]) {
		t.Fatalf("continuation block = %x, want the last ciphertext block %x", next, want[16:32])
	}
	if _, err := AESCBCEncrypt(&key, next, got[32:], plain[32:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ciphertext = %x\nwant         %x", got, want)
	}

	// Decrypt in place, in the same two pieces.
	next, err = AESCBCDecrypt(&key, iv, got[:32], got[:32])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AESCBCDecrypt(&key, next, got[32:], got[32:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("decrypted = %x\nwant        %x", got, plain)
	}
}

func TestAESCBCRefusesPartialBlocks(t *testing.T) {
	var key [32]byte
	var iv [16]byte
	if _, err := AESCBCEncrypt(&key, iv, make([]byte, 32), make([]byte, 31)); !errors.Is(err, ErrBlockSize) {
		t.Errorf("31-byte input: %v, want ErrBlockSize", err)
	}
	if _, err := AESCBCDecrypt(&key, iv, make([]byte, 16), make([]byte, 32)); !errors.Is(err, ErrBlockSize) {
		t.Errorf("short destination: %v, want ErrBlockSize", err)
	}
}

func BenchmarkTunnelLayerEncrypt(b *testing.B) {
	lk, ik := [32]byte(seq(1, 32)), [32]byte(seq(2, 32))
	l := NewTunnelLayer(&lk, &ik)
	var m [TunnelMessageSize]byte
	b.SetBytes(TunnelMessageSize)
	for b.Loop() {
		l.EncryptLayer(&m)
	}
}

func BenchmarkTunnelLayerDecrypt(b *testing.B) {
	lk, ik := [32]byte(seq(1, 32)), [32]byte(seq(2, 32))
	l := NewTunnelLayer(&lk, &ik)
	var m [TunnelMessageSize]byte
	b.SetBytes(TunnelMessageSize)
	for b.Loop() {
		l.DecryptLayer(&m)
	}
}
