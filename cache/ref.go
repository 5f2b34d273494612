package cache

import (
	"fmt"
	"net"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LocalRegistry is the registry name of images that exist only in a store:
// pipe's own (pipe.local/busybox, pipe.local/go, built by make install) and
// any a user imports under it. Pull never sends a request for them, not even a
// name lookup: a missing one is ErrNotCached with what to do.
const LocalRegistry = "pipe.local"

// parseRef reads a reference the way Docker does ("alpine" is library/alpine:latest
// on the default registry, name.DefaultRegistry). Registries on loopback are spoken
// to over plain HTTP, as Docker does; every other registry over HTTPS.
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w (want e.g. alpine, registry.example:5000/org/img:tag or img@sha256:<hex>)", ref, err)
	}
	if IsLoopback(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// FamiliarName is how Docker prints a reference: without the default
// registry and its library/ prefix ("alpine:latest", "org/app:1"); references
// to other registries are unchanged.
func FamiliarName(ref string) string {
	rest, ok := strings.CutPrefix(ref, name.DefaultRegistry+"/")
	if !ok {
		return ref
	}
	return strings.TrimPrefix(rest, "library/")
}

// IsLoopback reports whether a registry host[:port] is this machine
// (localhost or a loopback address): spoken to over plain HTTP, and out
// of reach of other machines (a cluster's pods among them).
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostPlatform is the platform containers run on here.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

func platformOf(o PullOptions) v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return hostPlatform()
}

// choosePlatform picks the manifest of an index that runs on plat.
func choosePlatform(idx *v1.IndexManifest, plat v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		if d.Platform.Satisfies(plat) {
			return d, nil
		}
		have = append(have, d.Platform.String())
	}
	return v1.Descriptor{}, fmt.Errorf("no image for platform %s in the index (it has: %s)", plat.String(), strings.Join(have, ", "))
}

// checkConfigPlatform refuses an image built for another platform.
func checkConfigPlatform(cf *v1.ConfigFile, plat v1.Platform) error {
	if cf.OS == "" && cf.Architecture == "" {
		return nil
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if !p.Satisfies(v1.Platform{OS: plat.OS, Architecture: plat.Architecture}) {
		return fmt.Errorf("image is for %s, not %s", p.String(), plat.String())
	}
	return nil
}

// isLocalRef reports whether ref names an image no other machine can pull:
// one of LocalRegistry, or one on this machine's loopback registry.
func isLocalRef(ref string) bool {
	r, err := name.ParseReference(ref)
	if err != nil {
		return false
	}
	reg := r.Context().RegistryStr()
	return reg == LocalRegistry || IsLoopback(reg)
}
