package pipeline

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1048576": 1 << 20, "512M": 512 << 20, "512m": 512 << 20, "512MB": 512 << 20,
		"512MiB": 512 << 20, "1.5G": 3 << 29, "2g": 2 << 30, "10k": 10 << 10, "1T": 1 << 40, "100B": 100,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "1X", "0x10", "NaN", "inf", "1e30G", "1_000", "1 M B"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]int64{"10MB/s": 10 << 20, "512K/s": 512 << 10, "1G": 1 << 30} {
		if got, err := ParseBandwidth(in); err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseBandwidth("fast"); err == nil {
		t.Error("ParseBandwidth(fast) succeeded")
	}
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string]float64{"2": 2, "1.5": 1.5, "500m": 0.5, "0.25": 0.25} {
		if got, err := ParseCPUs(in); err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "x", "NaN", "Inf", "5000"} {
		if _, err := ParseCPUs(in); err == nil {
			t.Errorf("ParseCPUs(%q) succeeded", in)
		}
	}
}
