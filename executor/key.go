package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// KeySchema is the version of the step key's canonical encoding. Change it
// (and testdata/keys.golden) only on purpose: every cached result is keyed by
// it.
const KeySchema = "pipe.step/v1"

// KeyInput is everything that can change a step's result. Two steps with
// equal KeyInputs must produce the same output layer.
type KeyInput struct {
	ImageDigest string   // the image's manifest digest, "sha256:..."
	Run         []string // the step's commands, in order
	Shell       string   // the shell that runs them
	Env         []string // KEY=VALUE; secrets as KEY only (a value given for a name in Secrets is dropped)
	Secrets     []string // names of the secrets the step gets (never values)
	Inputs      string   // Workspace.Digest of the step's inputs (the whole snapshot when it declares none)
	Deps        []string // keys of the steps it needs
	Workdir     string
	User        string
	Network     string
	Outputs     []string // declared outputs
	NoOutputs   bool     // outputs: [] (keep nothing); a field of its own so that other keys stay as they were
	// OutputsFrom are the steps whose outputs it sees (outputs_from), when
	// set; written only then, so that other keys stay as they were.
	OutputsFrom    []string
	OutputsFromSet bool
	Caches         []string // names of the cache volumes it mounts
	// Services are the services the step gets, one entry per service
	// describing everything about it that can change the step's result
	// (name, image digest, command, env, readiness check), each made with
	// KeyList so that no two services encode alike.
	Services []string
}

// StepKey returns the step's key: the hex sha256 of a canonical encoding of
// in under the schema "pipe.step/v1". Order does not matter in Env (stable by
// name: the last of duplicate names wins, as in a process environment),
// Secrets, Deps, Outputs, Caches and Services; it matters in Run. The encoding writes
// each field's name and each value length-prefixed, so no two different
// inputs encode alike. Secret values are never part of it: an Env entry whose
// name is in Secrets counts by name only.
func StepKey(in KeyInput) string {
	h := sha256.New()
	writeKeyField(h, "schema", KeySchema)
	writeKeyField(h, "image", in.ImageDigest)
	writeKeyField(h, "run", in.Run...)
	writeKeyField(h, "shell", in.Shell)
	writeKeyField(h, "env", canonicalEnv(in.Env, in.Secrets)...)
	writeKeyField(h, "secrets", sortedSet(in.Secrets)...)
	writeKeyField(h, "inputs", in.Inputs)
	writeKeyField(h, "deps", sortedSet(in.Deps)...)
	writeKeyField(h, "workdir", in.Workdir)
	writeKeyField(h, "user", in.User)
	writeKeyField(h, "network", in.Network)
	writeKeyField(h, "outputs", sortedSet(in.Outputs)...)
	if in.NoOutputs {
		writeKeyField(h, "no-outputs")
	}
	if in.OutputsFromSet {
		writeKeyField(h, "outputs-from", sortedSet(in.OutputsFrom)...)
	}
	writeKeyField(h, "caches", sortedSet(in.Caches)...)
	writeKeyField(h, "services", sortedSet(in.Services)...)
	return hex.EncodeToString(h.Sum(nil))
}

// KeyList encodes values as one string, each length-prefixed
// ("len:value;"), so that the boundaries between them are part of it: for
// a KeyInput entry made of several values, such as a service.
func KeyList(values ...string) string {
	var b strings.Builder
	for _, v := range values {
		fmt.Fprintf(&b, "%d:%s;", len(v), v)
	}
	return b.String()
}

// writeKeyField writes "name count\n" then "len:value\n" for each value.
func writeKeyField(h hash.Hash, name string, values ...string) {
	fmt.Fprintf(h, "%s %d\n", name, len(values))
	for _, v := range values {
		fmt.Fprintf(h, "%d:%s\n", len(v), v)
	}
}

// sortedSet returns the distinct values of s, sorted.
func sortedSet(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	w := 0
	for i, v := range out {
		if i == 0 || v != out[w-1] {
			out[w] = v
			w++
		}
	}
	return out[:w]
}

// canonicalEnv returns env with one entry per name (the last one wins),
// sorted by name, secret names without their value.
func canonicalEnv(env, secrets []string) []string {
	secret := map[string]bool{}
	for _, s := range secrets {
		secret[s] = true
	}
	last := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case secret[k]:
			last[k] = k
		case ok:
			last[k] = k + "=" + v
		default:
			last[k] = k
		}
	}
	out := make([]string, 0, len(last))
	for _, kv := range last {
		out = append(out, kv)
	}
	sort.Strings(out)
	return out
}
