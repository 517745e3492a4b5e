package garlic

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// refHKDF is RFC 5869 HKDF-SHA256 written out from the RFC with
// crypto/hmac, salt first as the I2P specs write it: an oracle for the
// crypto.HKDF wrapper's argument order inside the ratchet KDFs.
func refHKDF(salt, ikm []byte, info string, n int) []byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(sha256.New, prk)
		m.Write(t)
		m.Write([]byte(info))
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

// refTagSet follows ecies.rst §"DH INITIALIZATION KDF", §"4b)" and §"4c)"
// line by line and returns the first n tags and keys and the next root
// key.
func refTagSet(rootKey, k []byte, n int) (tags [][]byte, keys [][]byte, nextRoot []byte) {
	keydata := refHKDF(rootKey, k, "KDFDHRatchetStep", 64)
	nextRoot, ck := keydata[:32], keydata[32:]
	keydata = refHKDF(ck, nil, "TagAndKeyGenKeys", 64)
	sessTagCK, symmKeyCK := keydata[:32], keydata[32:]
	keydata = refHKDF(sessTagCK, nil, "STInitialization", 64)
	chain, constant := keydata[:32], keydata[32:]
	for range n {
		keydata = refHKDF(chain, constant, "SessionTagKeyGen", 64)
		chain = keydata[:32]
		tags = append(tags, keydata[32:40])
		keydata = refHKDF(symmKeyCK, nil, "SymmetricRatchet", 64)
		symmKeyCK = keydata[:32]
		keys = append(keys, keydata[32:64])
	}
	return tags, keys, nextRoot
}

func TestTagSetMatchesSpecKDF(t *testing.T) {
	src := testRand(10)
	for round := range 5 {
		var root, k [32]byte
		src.Read(root[:])
		src.Read(k[:])
		const n = 40
		wantTags, wantKeys, wantRoot := refTagSet(root[:], k[:], n)
		ts := newSendTagSet(0, dhInitialize(root, k))
		if hex.EncodeToString(ts.nextRoot[:]) != hex.EncodeToString(wantRoot) {
			t.Fatalf("round %d: next root %x, want %x", round, ts.nextRoot, wantRoot)
		}
		for i := range n {
			idx, tag, key, err := ts.next()
			if err != nil || idx != i || string(tag[:]) != string(wantTags[i]) || string(key[:]) != string(wantKeys[i]) {
				t.Fatalf("round %d entry %d: index %d tag %x key %x (%v); want tag %x key %x",
					round, i, idx, tag, key[:4], err, wantTags[i], wantKeys[i][:4])
			}
		}
	}
}

// The other KDFs of ecies.rst written out against refHKDF.
func TestRatchetKDFsMatchSpec(t *testing.T) {
	src := testRand(11)
	var ck, shared, kba [32]byte
	src.Read(ck[:])
	src.Read(shared[:])
	src.Read(kba[:])
	// §"KDF for Reply TagSet": tagsetKey = HKDF(chainKey, ZEROLEN, "SessionReplyTags", 32).
	tagsetKey := refHKDF(ck[:], nil, "SessionReplyTags", 32)
	wantTags, _, _ := refTagSet(ck[:], tagsetKey, 3)
	nsr := newSendTagSet(0, nsrChains(ck))
	for i := range 3 {
		_, tag, _, _ := nsr.next()
		if string(tag[:]) != string(wantTags[i]) {
			t.Fatalf("NSR tag %d = %x, want %x", i, tag, wantTags[i])
		}
	}
	// §"DH RATCHET KDF": tagsetKey = HKDF(sharedSecret, ZEROLEN, "XDHRatchetTagSet", 32).
	if got, want := ratchetTagSetKey(shared), refHKDF(shared[:], nil, "XDHRatchetTagSet", 32); string(got[:]) != string(want) {
		t.Fatalf("XDHRatchetTagSet key %x, want %x", got, want)
	}
	// §"KDF for Payload Section Encrypted Contents": k = HKDF(k_ba, ZEROLEN, "AttachPayloadKDF", 32).
	keys := nsrKeys{kba: kba}
	if got, want := keys.payloadKey(), refHKDF(kba[:], nil, "AttachPayloadKDF", 32); string(got[:]) != string(want) {
		t.Fatalf("AttachPayloadKDF key %x, want %x", got, want)
	}
}

// The sender's and the receiver's tag set from the same inputs agree on
// every tag and key, whatever order the receiver sees them in.
func TestSendAndReceiveTagSetsAgree(t *testing.T) {
	var root, k [32]byte
	root[0], k[0] = 1, 2
	c := dhInitialize(root, k)
	send := newSendTagSet(7, c)
	kr := &Keyring{tags: map[Tag]tagRef{}}
	recv := newRecvTagSet(&Session{k: kr}, recvES, 7, c)
	const n = 200
	kr.extend(recv, n)
	type entry struct {
		tag Tag
		key [32]byte
	}
	var sent []entry
	for range n {
		_, tag, key, err := send.next()
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, entry{tag, key})
	}
	order := rand.New(testRand(12)).Perm(n)
	for _, i := range order {
		ref, ok := kr.tags[sent[i].tag]
		if !ok || ref.n != i {
			t.Fatalf("tag %d: registered %v at index %d", i, ok, ref.n)
		}
		key, ok := recv.key(i)
		if !ok || key != sent[i].key {
			t.Fatalf("key %d: %x (%v), want %x", i, key[:4], ok, sent[i].key[:4])
		}
	}
	if len(recv.skipped) != 0 {
		t.Fatalf("%d skipped keys left after every index was used", len(recv.skipped))
	}
	if send.nextRoot != recv.nextRoot {
		t.Fatal("next root keys differ")
	}
}

func TestSendTagSetEndsAfterIndex65535(t *testing.T) {
	ts := newSendTagSet(3, dhInitialize([32]byte{1}, [32]byte{2}))
	ts.tags.next, ts.keys.next = MaxTagIndex, MaxTagIndex
	if n, _, _, err := ts.next(); err != nil || n != MaxTagIndex {
		t.Fatalf("index 65535: %d, %v", n, err)
	}
	if _, _, _, err := ts.next(); err == nil {
		t.Fatal("index 65536 was handed out")
	}
}

func BenchmarkTagSetNext(b *testing.B) {
	ts := newSendTagSet(0, dhInitialize([32]byte{1}, [32]byte{2}))
	for b.Loop() {
		if ts.tags.next > MaxTagIndex {
			ts = newSendTagSet(0, dhInitialize([32]byte{1}, [32]byte{2}))
		}
		if _, _, _, err := ts.next(); err != nil {
			b.Fatal(err)
		}
	}
}
