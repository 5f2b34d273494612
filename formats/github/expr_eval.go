package github

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// dyn is a value known only while the job runs (a step's output, a variable
// set through $GITHUB_ENV, a secret): the shell text that computes it.
type dyn struct {
	cond string // a shell condition, for booleans: exit status 0 is true
	word string // for strings: shell text expanding to the value inside double quotes (${X}, $(...))
}

// dynContext resolves a reference into a context known only in part at
// translation time (steps, needs, secrets, env): path is the property names
// after the context's name.
type dynContext func(path []string) (any, error)

// evaluator evaluates expressions against the contexts of one place of the
// workflow.
type evaluator struct {
	// contexts by lower-case name: a map[string]any, or a dynContext.
	contexts map[string]any
	// status answers success(), failure(), cancelled(), always(); nil: they
	// are not allowed here.
	status func(name string) (any, error)
	// hashFiles computes hashFiles(...); nil: not allowed here.
	hashFiles func(patterns []string) (string, error)
	where     string // "a job's if", for messages
}

// ErrorKinds of evaluation are plain errors; the caller adds the position.

func (e *evaluator) eval(n node) (any, error) {
	switch n := n.(type) {
	case *litNode:
		return n.v, nil
	case *refNode:
		return e.ref(n.name, nil)
	case *propNode:
		if root, path, ok := staticPath(n); ok {
			return e.ref(root, path)
		}
		x, err := e.eval(n.x)
		if err != nil {
			return nil, err
		}
		k, err := e.key(n)
		if err != nil {
			return nil, err
		}
		return index(x, k)
	case *starNode:
		x, err := e.eval(n.x)
		if err != nil {
			return nil, err
		}
		return star(x)
	case *notNode:
		x, err := e.eval(n.x)
		if err != nil {
			return nil, err
		}
		if d, ok := x.(*dyn); ok {
			return &dyn{cond: "! " + group(condOf(d))}, nil
		}
		return !truthy(x), nil
	case *binaryNode:
		return e.binary(n)
	case *callNode:
		return e.call(n)
	}
	return nil, fmt.Errorf("unsupported expression")
}

func (e *evaluator) key(n *propNode) (any, error) {
	if n.key == nil {
		return n.name, nil
	}
	k, err := e.eval(n.key)
	if err != nil {
		return nil, err
	}
	if _, ok := k.(*dyn); ok {
		return nil, fmt.Errorf("an index must be known when the workflow is translated")
	}
	return k, nil
}

// staticPath flattens ctx.a.b['c'] into its context name and property names.
func staticPath(n node) (string, []string, bool) {
	switch n := n.(type) {
	case *refNode:
		return n.name, nil, true
	case *propNode:
		name := n.name
		if n.key != nil {
			l, ok := n.key.(*litNode)
			if !ok {
				return "", nil, false
			}
			s, ok := l.v.(string)
			if !ok {
				return "", nil, false
			}
			name = s
		}
		root, path, ok := staticPath(n.x)
		if !ok {
			return "", nil, false
		}
		return root, append(path, name), true
	}
	return "", nil, false
}

func contextNames() []string {
	return []string{"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs", "inputs"}
}

// ref resolves a context and a path into it.
func (e *evaluator) ref(name string, path []string) (any, error) {
	c, ok := e.contexts[name]
	if !ok {
		if contains(contextNames(), name) {
			return nil, fmt.Errorf("the %s context is not available in %s", name, e.where)
		}
		return nil, fmt.Errorf("unknown context %q", name)
	}
	if f, ok := c.(dynContext); ok {
		return f(path)
	}
	if name == "github" && len(path) == 1 && strings.EqualFold(path[0], "token") {
		// github.token is secrets.GITHUB_TOKEN
		if s, ok := e.contexts["secrets"].(dynContext); ok {
			return s([]string{"GITHUB_TOKEN"})
		}
	}
	v := c
	for _, p := range path {
		var err error
		if v, err = index(v, p); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// index is x[k]: a property of an object (case-insensitive), an element of
// an array; null for anything missing, as GitHub does.
func index(x, k any) (any, error) {
	switch x := x.(type) {
	case map[string]any:
		s := toString(k)
		if v, ok := x[s]; ok {
			return v, nil
		}
		for name, v := range x {
			if strings.EqualFold(name, s) {
				return v, nil
			}
		}
		return nil, nil
	case []any:
		f := toNumber(k)
		if f != math.Trunc(f) || f < 0 || f >= float64(len(x)) {
			return nil, nil
		}
		return x[int(f)], nil
	case *dyn:
		return nil, fmt.Errorf("a property of a value known only when the job runs cannot be read at translation")
	}
	return nil, nil
}

// star is x.*: the values of an object or the elements of an array.
func star(x any) (any, error) {
	switch x := x.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = x[k]
		}
		return out, nil
	case []any:
		return x, nil
	}
	return []any{}, nil
}

func (e *evaluator) binary(n *binaryNode) (any, error) {
	l, err := e.eval(n.l)
	if err != nil {
		return nil, err
	}
	if n.op == "&&" || n.op == "||" {
		return e.logic(n, l)
	}
	r, err := e.eval(n.r)
	if err != nil {
		return nil, err
	}
	ld, lok := l.(*dyn)
	rd, rok := r.(*dyn)
	if lok || rok {
		return dynCompare(n.op, l, r, ld, rd)
	}
	switch n.op {
	case "==":
		return looseEqual(l, r), nil
	case "!=":
		return !looseEqual(l, r), nil
	}
	return compare(n.op, l, r), nil
}

// logic is && and ||, which return one of their operands as GitHub does.
func (e *evaluator) logic(n *binaryNode, l any) (any, error) {
	ld, dynL := l.(*dyn)
	if !dynL {
		if truthy(l) == (n.op == "||") {
			return l, nil
		}
		return e.eval(n.r)
	}
	r, err := e.eval(n.r)
	if err != nil {
		return nil, err
	}
	rd, dynR := r.(*dyn)
	if !dynR {
		if truthy(r) == (n.op == "||") {
			return truthy(r), nil // a || true is truthy; a && false is falsy
		}
		return &dyn{cond: condOf(ld)}, nil
	}
	return &dyn{cond: "{ " + condOf(ld) + " " + n.op + " " + condOf(rd) + "; }"}, nil
}

// dynCompare compares when one side is known only at run time; only == and
// != of strings can be done by the shell.
func dynCompare(op string, l, r any, ld, rd *dyn) (any, error) {
	if op != "==" && op != "!=" {
		return nil, fmt.Errorf("%s needs both sides known when the workflow is translated", op)
	}
	neg := ""
	if op == "!=" {
		neg = "! "
	}
	if ld != nil && ld.word == "" || rd != nil && rd.word == "" {
		// a status or a condition compared with true/false
		d, other := ld, r
		if d == nil || d.word != "" {
			d, other = rd, l
		}
		b, ok := other.(bool)
		if !ok {
			return nil, fmt.Errorf("a condition can only be compared with true or false")
		}
		if b == (op == "==") {
			return &dyn{cond: d.cond}, nil
		}
		return &dyn{cond: "! " + group(d.cond)}, nil
	}
	return &dyn{cond: neg + "[ \"" + wordOf(l) + "\" = \"" + wordOf(r) + "\" ]"}, nil
}

// wordOf is the shell text of a value inside double quotes.
func wordOf(v any) string {
	if d, ok := v.(*dyn); ok {
		return d.word
	}
	return dquoteEscape(toString(v))
}

// condOf is the shell condition of a value's truthiness.
func condOf(d *dyn) string {
	if d.cond != "" {
		return d.cond
	}
	return "[ -n \"" + d.word + "\" ]"
}

func group(c string) string {
	if strings.HasPrefix(c, "{ ") || !strings.ContainsAny(c, " ") {
		return c
	}
	return "{ " + c + "; }"
}

// dquoteEscape escapes s for the inside of a shell double-quoted string.
func dquoteEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return r.Replace(s)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		if n, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(n)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return math.NaN()
}

// toString converts a value as GitHub does when it lands in text.
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return v
	case *dyn:
		return v.word
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func looseEqual(l, r any) bool {
	switch lv := l.(type) {
	case string:
		if rv, ok := r.(string); ok {
			return strings.EqualFold(lv, rv)
		}
	case nil:
		if r == nil {
			return true
		}
	case bool:
		if rv, ok := r.(bool); ok {
			return lv == rv
		}
	case map[string]any, []any:
		return false
	}
	if _, ok := r.(map[string]any); ok {
		return false
	}
	if _, ok := r.([]any); ok {
		return false
	}
	return toNumber(l) == toNumber(r)
}

func compare(op string, l, r any) bool {
	ls, lok := l.(string)
	rs, rok := r.(string)
	var c int
	if lok && rok {
		c = strings.Compare(strings.ToLower(ls), strings.ToLower(rs))
	} else {
		a, b := toNumber(l), toNumber(r)
		if math.IsNaN(a) || math.IsNaN(b) {
			return false
		}
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}
