// Package resource is the Kubernetes resource quantity
// (k8s.io/apimachinery/pkg/api/resource) as package kube needs it: parse
// what the API server reports ("2", "1500m", "8Gi", "7901420Ki", "1e3"),
// compare and add exactly, and format what it sends in a form the API
// server accepts.
package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Format is how a quantity prefers to be written.
type Format string

const (
	DecimalExponent Format = "DecimalExponent" // 12e6
	BinarySI        Format = "BinarySI"        // 12Mi
	DecimalSI       Format = "DecimalSI"       // 12M
)

// Quantity is an exact decimal or binary amount. The zero value is 0.
// Methods never change a value another Quantity shares, so a Quantity
// copies like an int.
type Quantity struct {
	v      *big.Rat // nil is 0
	Format Format
}

// ErrFormatWrong is the error of a string that is not a quantity.
var ErrFormatWrong = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")

// NewQuantity is value units.
func NewQuantity(value int64, f Format) *Quantity {
	return &Quantity{v: new(big.Rat).SetInt64(value), Format: f}
}

// NewMilliQuantity is value thousandths of a unit.
func NewMilliQuantity(value int64, f Format) *Quantity {
	return &Quantity{v: big.NewRat(value, 1000), Format: f}
}

// MustParse is ParseQuantity for constants; it panics on a bad string.
func MustParse(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(fmt.Errorf("cannot parse %q: %w", s, err))
	}
	return q
}

func (q *Quantity) rat() *big.Rat {
	if q.v == nil {
		return new(big.Rat)
	}
	return q.v
}

// Cmp is -1, 0 or +1 as q is less than, equal to or more than y.
func (q *Quantity) Cmp(y Quantity) int { return q.rat().Cmp(y.rat()) }

// Add adds y to q.
func (q *Quantity) Add(y Quantity) { q.v = new(big.Rat).Add(q.rat(), y.rat()) }

// Sign is -1, 0 or +1.
func (q *Quantity) Sign() int { return q.rat().Sign() }

// IsZero reports whether q is 0.
func (q *Quantity) IsZero() bool { return q.Sign() == 0 }

// DeepCopy is a copy of q.
func (q Quantity) DeepCopy() Quantity { return q }

// Value is q in units, rounded up (as upstream's Value).
func (q *Quantity) Value() int64 { return ceil(q.rat(), 1) }

// MilliValue is q in thousandths, rounded up.
func (q *Quantity) MilliValue() int64 { return ceil(q.rat(), 1000) }

func ceil(r *big.Rat, scale int64) int64 {
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt64(scale))
	n, d := x.Num(), x.Denom()
	z, m := new(big.Int).DivMod(n, d, new(big.Int))
	if m.Sign() != 0 {
		z.Add(z, big.NewInt(1)) // DivMod floors (Euclidean, d > 0)
	}
	return z.Int64()
}

// String formats q: in binary suffixes (Ki, Mi, ...) when its format is
// BinarySI and it is a whole multiple of 1024, else in decimal suffixes
// (n, u, m, "", k, M, ...) with an integer mantissa.
func (q *Quantity) String() string {
	r := q.rat()
	if r.IsInt() && q.Format == BinarySI {
		if s, ok := binaryString(r.Num()); ok {
			return s
		}
	}
	return decimalString(r)
}

var binarySuffixes = []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}

func binaryString(n *big.Int) (string, bool) {
	if new(big.Int).Abs(n).Cmp(big.NewInt(1024)) < 0 {
		return "", false
	}
	m, k := new(big.Int).Set(n), 0
	mod := new(big.Int)
	for k < len(binarySuffixes)-1 {
		d, r := new(big.Int).DivMod(m, big.NewInt(1024), mod)
		if r.Sign() != 0 {
			break
		}
		m, k = d, k+1
	}
	if k == 0 {
		return "", false
	}
	return m.String() + binarySuffixes[k], true
}

// decimalSuffixes by power of ten / 3, from 10^-9.
var decimalSuffixes = []string{"n", "u", "m", "", "k", "M", "G", "T", "P", "E"}

// decimalString writes r with the largest decimal suffix that keeps the
// mantissa an integer; what is finer than 10^-9 rounds up, as upstream.
func decimalString(r *big.Rat) string {
	if r.Sign() == 0 {
		return "0"
	}
	for i := len(decimalSuffixes) - 1; i >= 0; i-- {
		m := new(big.Rat).Mul(r, tenTo(9-3*i))
		if m.IsInt() {
			return m.Num().String() + decimalSuffixes[i]
		}
	}
	n := new(big.Rat).Mul(r, tenTo(9))
	z, mod := new(big.Int).DivMod(n.Num(), n.Denom(), new(big.Int))
	if mod.Sign() != 0 {
		z.Add(z, big.NewInt(1))
	}
	if z.Sign() == 0 {
		return "0"
	}
	return z.String() + "n"
}

// tenTo is 10^e as a Rat, e of either sign.
func tenTo(e int) *big.Rat {
	if e >= 0 {
		return new(big.Rat).SetInt(pow10(int64(e)))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), pow10(int64(-e)))
}

func pow10(n int64) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil) }

// MarshalJSON encodes q as its String.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }

// UnmarshalJSON decodes a quantity string (or a bare JSON number, or null).
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*q = Quantity{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	p, err := ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// Rat is q's exact value (a copy).
func (q *Quantity) Rat() *big.Rat { return new(big.Rat).Set(q.rat()) }
