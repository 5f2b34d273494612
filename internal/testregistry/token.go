package testregistry

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

const (
	tokenService = "pipe-test-registry"
	tokenIssuer  = "pipe-test-token-server"
)

// tokenHandler serves distribution's token flow. Tokens are ES256 JWTs
// signed with the registry's own TLS key, whose certificate (in the x5c
// header) chains to the test CA the registry trusts (rootcertbundle).
func tokenHandler(o Options, cert tls.Certificate) http.Handler {
	readOnly := map[string]bool{}
	for _, u := range o.ReadOnly {
		readOnly[u] = true
	}
	key := cert.PrivateKey.(*ecdsa.PrivateKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok && o.Users[user] != pass {
			http.Error(w, `{"details":"wrong password"}`, http.StatusUnauthorized)
			return
		}
		var access []map[string]any
		for _, scope := range r.URL.Query()["scope"] {
			parts := strings.Split(scope, ":")
			if len(parts) != 3 || parts[0] != "repository" || !ok {
				continue // anonymous users get a token with no access
			}
			actions := []string{"pull"}
			if !readOnly[user] && strings.Contains(parts[2], "push") {
				actions = append(actions, "push")
			}
			access = append(access, map[string]any{"type": "repository", "name": parts[1], "actions": actions})
		}
		tok, err := signToken(key, cert.Certificate[0], user, access)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
	})
}

// signToken makes the JWT distribution 2.8 verifies: issuer, audience (a
// string in 2.8), times, access, signed ES256 with an x5c chain.
func signToken(key *ecdsa.PrivateKey, certDER []byte, subject string, access []map[string]any) (string, error) {
	now := time.Now()
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}
	claims := map[string]any{"iss": tokenIssuer, "sub": subject, "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": access}
	if access == nil {
		claims["access"] = []any{}
	}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	sig := append(pad32(r), pad32(s)...)
	return signing + "." + enc.EncodeToString(sig), nil
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	return append(make([]byte, 32-len(b)), b...)
}
