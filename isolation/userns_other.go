//go:build !linux

package isolation

// CurrentUserNS returns nil: there are no user namespaces here.
func CurrentUserNS() *UserNS { return nil }

// NeedsUserNS is false: pipe cannot run containers here at all.
func NeedsUserNS() bool { return false }

// EnterUserNS returns ErrUnsupported.
func EnterUserNS(warn func(string)) (int, error) { return 0, ErrUnsupported }

func maybeUserNSStage() {}
