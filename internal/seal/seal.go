// Package seal encrypts the few secrets escrowd must read back, such as
// webhook signing secrets, under the operator's key (ESCROWD_SECRET_KEY)
// with AES-256-GCM. A sealed value is text:
//
//	sealed:v1:<key id>:<base64url(nonce || ciphertext)>
//
// where the key id is the first 8 hex digits of SHA-256 of the key, so a
// value sealed under another key is told apart from a damaged one. The
// caller passes a context string (the table, column and row it belongs to)
// that is authenticated with the value: a sealed value copied to another
// row does not open.
//
// A nil *Box is "no key configured": Seal stores the plain value and Open
// returns plain values as they are, so a deployment can start without a key
// and add one later; values stored before stay readable (unsealed) and new
// ones are sealed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const prefix = "sealed:v1:"

// Errors of Open.
var (
	ErrNoKey    = errors.New("seal: the value is sealed and no key is configured (ESCROWD_SECRET_KEY)")
	ErrWrongKey = errors.New("seal: the value was sealed under another key")
	ErrDamaged  = errors.New("seal: the sealed value does not open (damaged, or not this row's)")
)

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
	id   string
	key  []byte
}

// ParseKey reads a key written as base64 (standard or URL alphabet, with
// or without padding) of KeySize random bytes, e.g. the output of
// "openssl rand -base64 32".
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("seal: the key is %d bytes, want %d", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("seal: the key is not base64")
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: the key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	sum := sha256.Sum256(key)
	return &Box{aead: aead, id: hex.EncodeToString(sum[:KeyIDLen/2]), key: append([]byte(nil), key...)}, nil
}

// Key derives a key for another use of the operator's key, such as
// keying the hashes of one-time codes: HMAC-SHA256(key, "escrowd/" +
// purpose). Different purposes give unrelated keys; a nil box gives nil.
func (b *Box) Key(purpose string) []byte {
	if b == nil {
		return nil
	}
	mac := hmac.New(sha256.New, b.key)
	mac.Write([]byte("escrowd/" + purpose))
	return mac.Sum(nil)
}

// KeyID names the box's key in sealed values ("" for a nil box).
func (b *Box) KeyID() string {
	if b == nil {
		return ""
	}
	return b.id
}

// Seal returns plain sealed for context; a nil box returns plain.
func (b *Box) Seal(plain, context string) (string, error) {
	if b == nil {
		return plain, nil
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return prefix + b.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Sealed reports whether a stored value is sealed.
func Sealed(stored string) bool { return strings.HasPrefix(stored, prefix) }

// KeyIDLen is the length of the key id in a sealed value.
const KeyIDLen = 8

// KeyIDPattern is a SQL LIKE pattern matching sealed values, and
// KeyIDOffset the 1-based position of their key id (for substr).
const (
	KeyIDPattern = prefix + "%"
	KeyIDOffset  = len(prefix) + 1
)

// Open returns the plain value of stored, which was sealed for context;
// a value that is not sealed is returned as it is.
func (b *Box) Open(stored, context string) (string, error) {
	rest, ok := strings.CutPrefix(stored, prefix)
	if !ok {
		return stored, nil
	}
	if b == nil {
		return "", ErrNoKey
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return "", ErrDamaged
	}
	if id != b.id {
		return "", fmt.Errorf("%w (%s; the configured key is %s)", ErrWrongKey, id, b.id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", ErrDamaged
	}
	plain, err := b.aead.Open(nil, raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():], []byte(context))
	if err != nil {
		return "", ErrDamaged
	}
	return string(plain), nil
}
