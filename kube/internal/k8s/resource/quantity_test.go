package resource

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		in         string
		milli      int64
		canonical  string
		wantFormat Format
	}{
		{"2", 2000, "2", DecimalSI},
		{"1500m", 1500, "1500m", DecimalSI},
		{"1.5", 1500, "1500m", DecimalSI},
		{"0.5", 500, "500m", DecimalSI},
		{".5", 500, "500m", DecimalSI},
		{"5.", 5000, "5", DecimalSI},
		{"8Gi", 8 << 30 * 1000, "8Gi", BinarySI},
		{"7901420Ki", 7901420 * 1024 * 1000, "7901420Ki", BinarySI},
		{"1e3", 1000 * 1000, "1k", DecimalExponent},
		{"1E3", 1000 * 1000, "1k", DecimalExponent},
		{"12e-3", 12, "12m", DecimalExponent},
		{"100k", 100000 * 1000, "100k", DecimalSI},
		{"3M", 3e6 * 1000, "3M", DecimalSI},
		{"1G", 1e9 * 1000, "1G", DecimalSI},
		{"2E", 0, "2E", DecimalSI}, // exa, not an exponent (too big for MilliValue)
		{"+4", 4000, "4", DecimalSI},
		{"-1", -1000, "-1", DecimalSI},
		{"0", 0, "0", DecimalSI},
		{"250u", 1, "250u", DecimalSI}, // MilliValue rounds up
		{"110", 110000, "110", DecimalSI},
		{"1Mi", 1 << 20 * 1000, "1Mi", BinarySI},
		{"1536Ki", 1536 * 1024 * 1000, "1536Ki", BinarySI},
	} {
		t.Run(tc.in, func(t *testing.T) {
			q, err := ParseQuantity(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.in != "2E" && q.MilliValue() != tc.milli {
				t.Errorf("MilliValue %d, want %d", q.MilliValue(), tc.milli)
			}
			if q.Format != tc.wantFormat {
				t.Errorf("format %s, want %s", q.Format, tc.wantFormat)
			}
			if got := q.String(); got != tc.canonical {
				t.Errorf("String %q, want %q", got, tc.canonical)
			}
			back, err := ParseQuantity(q.String())
			if err != nil || back.Cmp(q) != 0 {
				t.Errorf("%q does not parse back to the same value: %v %v", q.String(), back.String(), err)
			}
		})
	}
}

func TestParseQuantityErrors(t *testing.T) {
	for _, in := range []string{"", " ", "abc", "1x", "1Ki2", "--1", "+", "-", ".", "1e", "1e+", "1e1.5", "Ki", "1 Gi", "1.2.3", "1e99999", strings.Repeat("9", 100), "1/2", "0x10", "1ee3", "1e--3"} {
		if q, err := ParseQuantity(in); err == nil {
			t.Errorf("ParseQuantity(%q) = %s, want an error", in, q.String())
		}
	}
}

// The quantities kube sends: CPU in millis, memory in bytes.
func TestNewQuantityString(t *testing.T) {
	for _, tc := range []struct {
		q    *Quantity
		want string
	}{
		{NewMilliQuantity(1500, DecimalSI), "1500m"},
		{NewMilliQuantity(2000, DecimalSI), "2"},
		{NewMilliQuantity(1, DecimalSI), "1m"},
		{NewQuantity(512<<20, BinarySI), "512Mi"},
		{NewQuantity(1<<30, BinarySI), "1Gi"},
		{NewQuantity(1000, BinarySI), "1k"},
		{NewQuantity(1001, BinarySI), "1001"},
		{NewQuantity(1500*1024, BinarySI), "1500Ki"},
		{NewQuantity(0, BinarySI), "0"},
		{NewQuantity(100, DecimalSI), "100"},
	} {
		if got := tc.q.String(); got != tc.want {
			t.Errorf("%v: String %q, want %q", tc.q.rat(), got, tc.want)
		}
	}
}

func TestQuantityAddCmpJSON(t *testing.T) {
	a, b := MustParse("1500m"), MustParse("1")
	sum := *NewQuantity(0, DecimalSI)
	sum.Add(a)
	sum.Add(b)
	if sum.String() != "2500m" || a.String() != "1500m" {
		t.Errorf("sum %s, a %s", sum.String(), a.String())
	}
	if a.Cmp(b) <= 0 || b.Cmp(a) >= 0 || a.Cmp(MustParse("1.5")) != 0 {
		t.Error("Cmp is wrong")
	}
	if g8, k := MustParse("8Gi"), MustParse("7901420Ki"); g8.Cmp(k) <= 0 {
		t.Error("8Gi <= 7901420Ki")
	}
	var got struct {
		CPU Quantity  `json:"cpu"`
		Mem *Quantity `json:"mem,omitempty"`
		Num Quantity  `json:"num"`
	}
	if err := json.Unmarshal([]byte(`{"cpu":"250m","mem":"1Gi","num":3}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.CPU.MilliValue() != 250 || got.Mem.Value() != 1<<30 || got.Num.Value() != 3 {
		t.Errorf("decoded %s %s %s", got.CPU.String(), got.Mem.String(), got.Num.String())
	}
	out, _ := json.Marshal(got)
	if string(out) != `{"cpu":"250m","mem":"1Gi","num":"3"}` {
		t.Errorf("encoded %s", out)
	}
	if err := json.Unmarshal([]byte(`{"cpu":"lots"}`), &got); err == nil {
		t.Error("a bad quantity decoded")
	}
}

// FuzzParseQuantity: never panics; what parses formats to a string that
// parses back to the same value.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"2", "1500m", "8Gi", "7901420Ki", "1e3", "1E-3", ".5", "-0.001n", "2E", "123456789012345678901234567890Ei", "1e64", "+.1k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		str := q.String()
		back, err := ParseQuantity(str)
		if err != nil {
			t.Fatalf("%q formats as %q, which does not parse: %v", s, str, err)
		}
		if q.Rat().Cmp(back.Rat()) != 0 && !roundedUp(q, back) {
			t.Fatalf("%q formats as %q, another value", s, str)
		}
		q.MilliValue()
		q.Value()
	})
}

// roundedUp: back is q rounded up to a nano unit, as String does for finer
// values.
func roundedUp(q, back Quantity) bool {
	d := new(big.Rat).Sub(back.Rat(), q.Rat())
	return d.Sign() > 0 && d.Cmp(big.NewRat(1, 1e9)) < 0
}
