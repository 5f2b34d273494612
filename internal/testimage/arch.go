package testimage

import "runtime"

func hostArch() string { return runtime.GOARCH }
