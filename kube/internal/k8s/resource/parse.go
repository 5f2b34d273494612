package resource

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// maxDigits and maxExponent bound what ParseQuantity accepts, so that a
// hostile string cannot make a huge number: real quantities are far
// smaller (upstream's own limit is about 10^18 with nano precision).
const (
	maxDigits   = 64
	maxExponent = 64
)

// binaryShift is the power of two of each binary suffix.
var binaryShift = map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

// decimalExp is the power of ten of each decimal suffix.
var decimalExp = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

// ParseQuantity parses <signed number><suffix>: a number with an optional
// sign and fraction, and a binary suffix (Ki ... Ei), a decimal one (n, u,
// m, k, M, G, T, P, E) or an exponent (e3, E-2).
func ParseQuantity(s string) (Quantity, error) {
	num, suffix := splitNumber(s)
	if num == "" || num == "+" || num == "-" || num == "." || strings.HasSuffix(num, "-.") || strings.HasSuffix(num, "+.") {
		return Quantity{}, ErrFormatWrong
	}
	if len(num) > maxDigits {
		return Quantity{}, fmt.Errorf("quantity %q has too many digits", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return Quantity{}, ErrFormatWrong
	}
	if sh, ok := binaryShift[suffix]; ok {
		return Quantity{v: r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), sh))), Format: BinarySI}, nil
	}
	if e, ok := decimalExp[suffix]; ok {
		return Quantity{v: r.Mul(r, tenTo(e)), Format: DecimalSI}, nil
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		e, err := exponent(suffix[1:])
		if err != nil {
			return Quantity{}, err
		}
		return Quantity{v: r.Mul(r, tenTo(e)), Format: DecimalExponent}, nil
	}
	return Quantity{}, ErrFormatWrong
}

// splitNumber splits s after its leading [+-]?[0-9]*(.[0-9]*)?.
func splitNumber(s string) (num, suffix string) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return "", s
	}
	return s[:i], s[i:]
}

// exponent parses the [+-]?[0-9]+ of a decimal exponent.
func exponent(s string) (int, error) {
	t := strings.TrimLeft(s, "+-")
	if t == "" || len(s)-len(t) > 1 || strings.Trim(t, "0123456789") != "" {
		return 0, ErrFormatWrong
	}
	e, err := strconv.Atoi(s)
	if err != nil || e > maxExponent || e < -maxExponent {
		return 0, fmt.Errorf("quantity exponent %q is out of range", s)
	}
	return e, nil
}
