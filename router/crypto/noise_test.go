package crypto

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/flynn/noise"
)

// The protocol-name self-checks of i2pd 2.45.0 libi2pd/Crypto.cpp
// (InitNoiseNState, InitNoiseXKState, InitNoiseXKState1, InitNoiseIKState):
// h after Init, and h after the empty-prologue MixHash. The first bytes of
// three of them are the checks in protocol-map.md §1 (72e842c5/49ff483f,
// 694d5244, 4caf11ef/9ccf852c).
func TestInitMatchesI2pdProtocolNameConstants(t *testing.T) {
	tests := []struct {
		name      string
		init      string // h = ck after Init
		afterNull string // h after MixHash(empty prologue)
	}{
		{
			// NTCP2; 48 bytes, so hashed.
			"Noise_XKaesobfse+hs2+hs3_25519_ChaChaPoly_SHA256",
			"72e842c545e18080d39c4493bb91d7edf228981771218c1f624e206f28d32f71",
			"49ff483fc404b9b26b11943672ff05b561270331ba89b8fc3315938757dd3d1e",
		},
		{
			// Tunnel build records and router-level garlic; 31 bytes, so
			// zero-padded, not hashed.
			"Noise_N_25519_ChaChaPoly_SHA256",
			"4e6f6973655f4e5f32353531395f436861436861506f6c795f53484132353600",
			"694d52445a27d9adfad29c7632395dc1e4354c69b4f92eac8a1ee46a9ed21554",
		},
		{
			// ECIES-X25519-AEAD-Ratchet New Session; 40 bytes.
			"Noise_IKelg2+hs2_25519_ChaChaPoly_SHA256",
			"4caf11ef2c8e36564c53e88885064dbaacbe0054ad178f8079a646827e6ee40c",
			"9ccf852cc93bb9504441e950e01d52322e0d47add1e9a555f755b569ae183b5c",
		},
		{
			// SSU2 (not implemented here, but the constant is free coverage).
			"Noise_XKchaobfse+hs1+hs2+hs3_25519_ChaChaPoly_SHA256",
			"b13722817423a8fdf42df2e60ed1edf41b93071db1ec24a367f784ec270d8132",
			"dc85e6af7b02650cf1f90d71fbc6d453a7cf6dbfbd525ea5b5791c47b35ebc33",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSymmetricState(tc.name)
			if want := unhex32(t, tc.init); s.H() != want || s.CK() != want {
				t.Fatalf("after Init: h = %x, ck = %x, want both %x", s.H(), s.CK(), want)
			}
			if _, ok := s.K(); ok {
				t.Fatal("a fresh state claims a cipher key")
			}
			s.MixHash(nil)
			if want := unhex32(t, tc.afterNull); s.H() != want {
				t.Fatalf("after MixHash(prologue): h = %x, want %x", s.H(), want)
			}
			if want := unhex32(t, tc.init); s.CK() != want {
				t.Fatal("MixHash changed ck")
			}
		})
	}
}

// The boundary of the pad-or-hash rule (Noise rev 34 §5.2): 32 bytes are
// used as they are, 33 are hashed.
func TestInitPadsUpTo32BytesAndHashesLonger(t *testing.T) {
	name32 := strings.Repeat("x", 32)
	if s := NewSymmetricState(name32); s.H() != [32]byte([]byte(name32)) {
		t.Fatalf("32-byte name: h = %x", s.H())
	}
	name33 := strings.Repeat("x", 33)
	if s := NewSymmetricState(name33); s.H() != sha256Sum(name33) {
		t.Fatalf("33-byte name: h = %x", s.H())
	}
}

// --- a minimal Noise pattern driver over SymmetricState -------------------

// patterns lists the message tokens of the patterns tested; all three have
// the pre-message "<- s" (the initiator knows the responder's static key).
var patterns = map[string][][]string{
	"N":  {{"e", "es"}},
	"XK": {{"e", "es"}, {"e", "ee"}, {"s", "se"}},
	"IK": {{"e", "es", "s", "ss"}, {"e", "ee", "se"}},
}

type party struct {
	st        SymmetricState
	initiator bool
	s, e      X25519Keys
	rs, re    [32]byte
}

func newParties(name string, prologue []byte, initStatic, respStatic X25519Keys) (ini, resp *party) {
	ini = &party{initiator: true, s: initStatic, rs: respStatic.Public}
	resp = &party{s: respStatic}
	for _, p := range []*party{ini, resp} {
		p.st.Init(name)
		p.st.MixHash(prologue)
		p.st.MixHash(respStatic.Public[:]) // pre-message "<- s"
	}
	return ini, resp
}

func (p *party) dh(tok string) error {
	var priv X25519Keys
	var pub [32]byte
	switch tok {
	case "ee":
		priv, pub = p.e, p.re
	case "ss":
		priv, pub = p.s, p.rs
	case "es": // initiator's e with responder's s
		if p.initiator {
			priv, pub = p.e, p.rs
		} else {
			priv, pub = p.s, p.re
		}
	case "se": // initiator's s with responder's e
		if p.initiator {
			priv, pub = p.s, p.re
		} else {
			priv, pub = p.e, p.rs
		}
	default:
		return fmt.Errorf("unknown token %q", tok)
	}
	secret, err := priv.DH(pub)
	if err != nil {
		return err
	}
	p.st.MixKey(secret[:])
	return nil
}

func (p *party) write(tokens []string, payload []byte, ephemeral [32]byte) ([]byte, error) {
	var out []byte
	var err error
	for _, tok := range tokens {
		switch tok {
		case "e":
			p.e = X25519KeysFromPrivate(ephemeral)
			out = append(out, p.e.Public[:]...)
			p.st.MixHash(p.e.Public[:])
		case "s":
			if out, err = p.st.EncryptAndHash(out, p.s.Public[:]); err != nil {
				return nil, err
			}
		default:
			if err := p.dh(tok); err != nil {
				return nil, err
			}
		}
	}
	return p.st.EncryptAndHash(out, payload)
}

func (p *party) read(tokens []string, msg []byte) ([]byte, error) {
	for _, tok := range tokens {
		switch tok {
		case "e":
			if len(msg) < 32 {
				return nil, errors.New("short e")
			}
			p.re = [32]byte(msg[:32])
			p.st.MixHash(msg[:32])
			msg = msg[32:]
		case "s":
			n := 32
			if _, ok := p.st.K(); ok {
				n += AEADTagSize
			}
			if len(msg) < n {
				return nil, errors.New("short s")
			}
			rs, err := p.st.DecryptAndHash(nil, msg[:n])
			if err != nil {
				return nil, err
			}
			p.rs = [32]byte(rs)
			msg = msg[n:]
		default:
			if err := p.dh(tok); err != nil {
				return nil, err
			}
		}
	}
	return p.st.DecryptAndHash(nil, msg)
}

// --- flynn/noise vectors ----------------------------------------------------

type noiseVector struct {
	name     string
	fields   map[string]string
	messages []noiseMessage
}

type noiseMessage struct{ payload, ciphertext string }

func loadNoiseVectors(t *testing.T) []noiseVector {
	t.Helper()
	f, err := os.Open("testdata/flynn-noise-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []noiseVector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		if k == "handshake" {
			vs = append(vs, noiseVector{name: v, fields: map[string]string{}})
			continue
		}
		if len(vs) == 0 {
			t.Fatalf("%q before the first handshake=", line)
		}
		cur := &vs[len(vs)-1]
		if rest, ok := strings.CutPrefix(k, "msg_"); ok {
			idx, kind, _ := strings.Cut(rest, "_")
			i, err := strconv.Atoi(idx)
			if err != nil {
				t.Fatalf("bad message key %q", k)
			}
			for len(cur.messages) <= i {
				cur.messages = append(cur.messages, noiseMessage{})
			}
			if kind == "payload" {
				cur.messages[i].payload = v
			} else {
				cur.messages[i].ciphertext = v
			}
			continue
		}
		cur.fields[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// Drives two SymmetricStates through every Noise_N, Noise_XK and Noise_IK
// 25519_ChaChaPoly_SHA256 vector of flynn/noise v1.1.0 and requires the
// exact handshake and transport ciphertexts. The empty-prologue ones are
// I2P's case ("MixHash(null prologue)").
func TestSymmetricStateReproducesFlynnNoiseVectors(t *testing.T) {
	vs := loadNoiseVectors(t)
	emptyPrologue := map[string]int{}
	for i, v := range vs {
		pat := strings.Split(v.name, "_")[1]
		tokens, ok := patterns[pat]
		if !ok {
			t.Fatalf("vector %d: pattern %q", i, pat)
		}
		if v.fields["prologue"] == "" {
			emptyPrologue[pat]++
		}
		t.Run(fmt.Sprintf("%d_%s_prologue=%q", i, pat, v.fields["prologue"]), func(t *testing.T) {
			var initStatic X25519Keys
			if s := v.fields["init_static"]; s != "" {
				initStatic = X25519KeysFromPrivate(unhex32(t, s))
			}
			respStatic := X25519KeysFromPrivate(unhex32(t, v.fields["resp_static"]))
			ephem := [2][32]byte{unhex32(t, v.fields["gen_init_ephemeral"]), unhex32(t, v.fields["gen_resp_ephemeral"])}
			ini, resp := newParties(v.name, unhex(t, v.fields["prologue"]), initStatic, respStatic)

			var keys [2][32]byte // initiator→responder, responder→initiator
			var nonces [2]uint64
			for i, m := range v.messages {
				payload := unhex(t, m.payload)
				if i < len(tokens) {
					w, r := ini, resp
					if i%2 == 1 {
						w, r = resp, ini
					}
					msg, err := w.write(tokens[i], payload, ephem[i%2])
					if err != nil {
						t.Fatalf("message %d: write: %v", i, err)
					}
					if got := fmt.Sprintf("%x", msg); got != m.ciphertext {
						t.Fatalf("message %d:\n got %s\nwant %s", i, got, m.ciphertext)
					}
					got, err := r.read(tokens[i], msg)
					if err != nil {
						t.Fatalf("message %d: read: %v", i, err)
					}
					if !bytes.Equal(got, payload) {
						t.Fatalf("message %d: read payload %x, want %x", i, got, payload)
					}
					if ini.st.H() != resp.st.H() || ini.st.CK() != resp.st.CK() {
						t.Fatalf("message %d: the two sides' h or ck differ", i)
					}
					if i == len(tokens)-1 {
						a, b := ini.st.Split()
						c, d := resp.st.Split()
						if a != c || b != d {
							t.Fatal("Split differs between the sides")
						}
						keys = [2][32]byte{a, b}
					}
					continue
				}
				// Transport messages alternate c1, c2 (as flynn's test does),
				// each with its own counter and no associated data.
				j := (i - len(tokens)) % 2
				ct := AEADSeal(&keys[j], nonces[j], nil, payload, nil)
				if got := fmt.Sprintf("%x", ct); got != m.ciphertext {
					t.Fatalf("transport message %d:\n got %s\nwant %s", i, got, m.ciphertext)
				}
				if pt, err := AEADOpen(&keys[j], nonces[j], nil, ct, nil); err != nil || !bytes.Equal(pt, payload) {
					t.Fatalf("transport message %d does not open: %v", i, err)
				}
				nonces[j]++
			}
		})
	}
	for _, p := range []string{"N", "XK", "IK"} {
		if emptyPrologue[p] == 0 {
			t.Errorf("no %s vector with an empty prologue was checked", p)
		}
	}
	if len(vs) != 12 {
		t.Errorf("checked %d vectors, want the 12 in testdata", len(vs))
	}
}

// --- flynn/noise as a live oracle ---------------------------------------------

// Random keys and payloads (0-300 bytes) through flynn/noise and through our
// driver must give the same bytes, handshake hash and transport keys. The
// custom names are NTCP2's and the ratchet's; with zero padding and no
// obfuscation they are plain XK and IK under another name (protocol-map.md
// §1), which exercises the hashed-name path with the real names.
func TestSymmetricStateAgreesWithFlynnNoise(t *testing.T) {
	cs := noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)
	cases := []struct {
		pat  noise.HandshakePattern
		name string // our pattern key
	}{
		{noise.HandshakeN, "N"},
		{noise.HandshakeXK, "XK"},
		{noise.HandshakeIK, "IK"},
		{renamed(noise.HandshakeXK, "XKaesobfse+hs2+hs3"), "XK"},
		{renamed(noise.HandshakeIK, "IKelg2+hs2"), "IK"},
	}
	src := rand.NewChaCha8([32]byte(seq(0x99, 32)))
	r := rand.New(src)
	key := func() X25519Keys {
		var p [32]byte
		src.Read(p[:])
		return X25519KeysFromPrivate(p)
	}
	for _, c := range cases {
		tokens := patterns[c.name]
		fullName := "Noise_" + c.pat.Name + "_25519_ChaChaPoly_SHA256"
		for round := range 10 {
			is, rs := key(), key()
			ie, re := key(), key()
			fi, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: cs, Pattern: c.pat, Initiator: true,
				StaticKeypair: noise.DHKey{Private: is.Private[:], Public: is.Public[:]},
				PeerStatic:    rs.Public[:],
				Random:        bytes.NewReader(ie.Private[:]),
			})
			if err != nil {
				t.Fatal(err)
			}
			fr, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: cs, Pattern: c.pat,
				StaticKeypair: noise.DHKey{Private: rs.Private[:], Public: rs.Public[:]},
				Random:        bytes.NewReader(re.Private[:]),
			})
			if err != nil {
				t.Fatal(err)
			}
			ini, resp := newParties(fullName, nil, is, rs)
			ephem := [2][32]byte{ie.Private, re.Private}
			var fcs [2]*noise.CipherState
			for i, toks := range tokens {
				payload := make([]byte, r.IntN(301))
				src.Read(payload)
				fw, frd, w, rd := fi, fr, ini, resp
				if i%2 == 1 {
					fw, frd, w, rd = fr, fi, resp, ini
				}
				want, c1, c2, err := fw.WriteMessage(nil, payload)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, _, err := frd.ReadMessage(nil, want); err != nil {
					t.Fatal(err)
				}
				got, err := w.write(toks, payload, ephem[i%2])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s round %d message %d: ours %x\nflynn %x", fullName, round, i, got, want)
				}
				if _, err := rd.read(toks, got); err != nil {
					t.Fatalf("%s round %d message %d: read: %v", fullName, round, i, err)
				}
				if h := w.st.H(); !bytes.Equal(h[:], fw.ChannelBinding()) {
					t.Fatalf("%s round %d message %d: h differs from flynn's", fullName, round, i)
				}
				fcs = [2]*noise.CipherState{c1, c2}
			}
			k1, k2 := ini.st.Split()
			if k1 != fcs[0].UnsafeKey() || k2 != fcs[1].UnsafeKey() {
				t.Fatalf("%s round %d: Split keys differ from flynn's", fullName, round)
			}
		}
	}
}

func renamed(p noise.HandshakePattern, name string) noise.HandshakePattern {
	p.Name = name
	return p
}

// --- behaviour the I2P protocols rely on --------------------------------------

func keyedState(t *testing.T) *SymmetricState {
	t.Helper()
	s := NewSymmetricState("Noise_N_25519_ChaChaPoly_SHA256")
	s.MixHash(nil)
	s.MixKey(seq(0x10, 32))
	return s
}

// MixKey is HKDF(ck, ikm, "", 64) → ck, k, with n reset (ecies.rst
// §"Definitions").
func TestMixKeyIsHKDFOfChainingKey(t *testing.T) {
	s := NewSymmetricState("Noise_N_25519_ChaChaPoly_SHA256")
	ck0 := s.CK()
	s.SetNonce(9)
	s.MixKey(seq(0x10, 32))
	want := HKDF(ck0[:], seq(0x10, 32), "", 64)
	k, ok := s.K()
	if ck := s.CK(); !ok || !bytes.Equal(ck[:], want[:32]) || !bytes.Equal(k[:], want[32:]) || s.N() != 0 {
		t.Fatalf("after MixKey: ck %x k %x (ok %v) n %d; want %x / %x / 0", ck, k, ok, s.N(), want[:32], want[32:])
	}
}

func TestEncryptAndHashBeforeMixKeyPassesPlaintextAndHashesIt(t *testing.T) {
	s := NewSymmetricState("Noise_N_25519_ChaChaPoly_SHA256")
	h0 := s.H()
	out, err := s.EncryptAndHash([]byte("prefix|"), []byte("cleartext"))
	if err != nil || string(out) != "prefix|cleartext" {
		t.Fatalf("EncryptAndHash without a key = %q, %v", out, err)
	}
	if want := sha256Sum(string(h0[:]) + "cleartext"); s.H() != want {
		t.Fatal("h is not SHA256(h ‖ plaintext)")
	}
	if _, err := s.Encrypt(nil, []byte("x")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Encrypt without a key: %v, want ErrNoKey", err)
	}
	if _, err := s.Decrypt(nil, make([]byte, 20)); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Decrypt without a key: %v, want ErrNoKey", err)
	}
}

// EncryptAndHash is ENCRYPT(k, n, p, ad=h) followed by MixHash(ciphertext);
// DecryptAndHash undoes it, also in place, and fails without changing h or n.
func TestDecryptAndHashIsTheInverseAndAtomic(t *testing.T) {
	a := keyedState(t)
	b := *a // the peer's identical state
	k, _ := a.K()
	h0 := a.H()

	ct, err := a.EncryptAndHash(nil, []byte("Alice's static key, 32 bytes..."))
	if err != nil {
		t.Fatal(err)
	}
	if want := AEADSeal(&k, 0, nil, []byte("Alice's static key, 32 bytes..."), h0[:]); !bytes.Equal(ct, want) {
		t.Fatal("EncryptAndHash is not ENCRYPT(k, 0, p, ad=h)")
	}
	if a.H() != sha256Sum(string(h0[:])+string(ct)) || a.N() != 1 {
		t.Fatal("EncryptAndHash did not MixHash the ciphertext and advance n")
	}

	tampered := bytes.Clone(ct)
	tampered[0] ^= 1
	if _, err := b.DecryptAndHash(nil, tampered); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("tampered: %v, want ErrAuthFailed", err)
	}
	if b.H() != h0 || b.N() != 0 {
		t.Fatal("a failed DecryptAndHash changed the state")
	}
	pt, err := b.DecryptAndHash(ct[:0], ct) // in place
	if err != nil || string(pt) != "Alice's static key, 32 bytes..." {
		t.Fatalf("in-place DecryptAndHash = %q, %v", pt, err)
	}
	if b.H() != a.H() || b.N() != a.N() {
		t.Fatal("in-place DecryptAndHash hashed the plaintext, not the ciphertext")
	}
}

// The ratchet's New Session with an all-zero static key: the payload uses
// the same key at n=1 and is not hashed (ecies.rst §"1f) KDFs for New
// Session Message"). Encrypt/SetNonce give exactly that.
func TestEncryptWithoutHashForZeroStaticNewSession(t *testing.T) {
	s := keyedState(t)
	if _, err := s.EncryptAndHash(nil, make([]byte, 32)); err != nil { // the zero static key
		t.Fatal(err)
	}
	h := s.H()
	k, _ := s.K()
	ct, err := s.Encrypt(nil, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if want := AEADSeal(&k, 1, nil, []byte("payload"), h[:]); !bytes.Equal(ct, want) {
		t.Fatal("Encrypt after the static section is not ENCRYPT(k, 1, p, ad=h)")
	}
	if s.H() != h {
		t.Fatal("Encrypt changed h")
	}
	r := keyedState(t)
	if _, err := r.EncryptAndHash(nil, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	r.SetNonce(1)
	if pt, err := r.Decrypt(nil, ct); err != nil || string(pt) != "payload" {
		t.Fatalf("Decrypt at n=1 = %q, %v", pt, err)
	}
}

func TestSymmetricStateRefusesTheReservedNonce(t *testing.T) {
	s := keyedState(t)
	s.SetNonce(math.MaxUint64)
	if _, err := s.EncryptAndHash(nil, []byte("x")); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("EncryptAndHash at 2^64-1: %v, want ErrNonceExhausted", err)
	}
	if _, err := s.DecryptAndHash(nil, make([]byte, 17)); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("DecryptAndHash at 2^64-1: %v, want ErrNonceExhausted", err)
	}
	s.SetNonce(math.MaxUint64 - 1)
	if _, err := s.Encrypt(nil, []byte("x")); err != nil {
		t.Fatalf("the last usable nonce: %v", err)
	}
}

// Copying the value forks the handshake: the copy and the original evolve
// independently (the ratchet keeps one NS state and derives each NSR from a
// copy).
func TestSymmetricStateCopiesAreIndependent(t *testing.T) {
	a := keyedState(t)
	b := *a
	a.MixHash([]byte("tag"))
	if a.H() == b.H() {
		t.Fatal("MixHash on the original changed the copy")
	}
	b.MixKey(seq(1, 32))
	if a.CK() == b.CK() {
		t.Fatal("MixKey on the copy changed the original")
	}
}

// MixHash of several pieces equals MixHash of their concatenation (NTCP2
// hashes frame and padding in one go in i2pd).
func TestMixHashOfPiecesIsMixHashOfConcatenation(t *testing.T) {
	a := NewSymmetricState("Noise_N_25519_ChaChaPoly_SHA256")
	b := *a
	a.MixHash([]byte("frame"), nil, []byte("padding"))
	b.MixHash([]byte("framepadding"))
	if a.H() != b.H() {
		t.Fatal("MixHash(a, b) != MixHash(a‖b)")
	}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
