package gitlab

import (
	"strconv"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
)

// mEntry is one entry of parallel: matrix: (or parallel: N): axes whose
// every combination is one job.
type mEntry struct {
	axes []mAxis
	// fixed: one combination, whose values are written in the step (not a
	// pipe matrix), for a job whose services change with the matrix.
	fixed bool
}

type mAxis struct {
	name   string
	values []string
}

func (e mEntry) size() int {
	n := 1
	for _, a := range e.axes {
		n *= len(a.values)
	}
	return n
}

// maxParallel is GitLab's limit of parallel: N and of a matrix's jobs.
const maxParallel = 200

// parallel reads parallel: N or parallel: {matrix: [...]}.
func (t *translator) parallel(j *jobInfo) {
	p := j.n.get("parallel")
	if p == nil {
		return
	}
	if n, ok := intOf(p); ok {
		if n < 1 || n > maxParallel {
			t.errorf(p.pos, "use a number from 1 to 200", "%s.parallel: %d is out of range", j.name, n)
			return
		}
		if n == 1 {
			return
		}
		vals := make([]string, n)
		for i := range vals {
			vals[i] = strconv.Itoa(i + 1)
		}
		j.matrix = []mEntry{{axes: []mAxis{{name: "CI_NODE_INDEX", values: vals}}}}
		return
	}
	m := p.get("matrix")
	if !p.isMap() || m == nil || !m.isSeq() || len(p.keys) != 1 {
		t.errorf(p.pos, "write parallel: 3, or parallel: {matrix: [{GO: [\"1.21\", \"1.22\"]}]}", "%s.parallel: expected a number or matrix:", j.name)
		return
	}
	total := 0
	for _, e := range m.items {
		me, ok := t.matrixEntry(j, e)
		if !ok {
			continue
		}
		total += me.size()
		j.matrix = append(j.matrix, me)
	}
	if total > maxParallel {
		t.errorf(p.pos, "split the matrix", "%s.parallel.matrix: %d jobs, more than %d", j.name, total, maxParallel)
	}
}

func (t *translator) matrixEntry(j *jobInfo, e *node) (mEntry, bool) {
	var me mEntry
	if !e.isMap() {
		t.errorf(e.pos, "each entry maps variables to values: - {GO: [\"1.21\", \"1.22\"]}", "%s.parallel.matrix: expected a mapping, found %s", j.name, kindName(e))
		return me, false
	}
	for i, k := range e.keys {
		v := e.vals[i]
		if !pipeline.IsEnvName(k.value) {
			t.errorf(k.pos, "use letters, digits and _", "%s.parallel.matrix: %q is not a variable name", j.name, k.value)
			return me, false
		}
		items := []*node{v}
		if v.isSeq() {
			items = v.items
		}
		a := mAxis{name: k.value}
		for _, it := range items {
			if it.kind != kScalar || it.isNull() {
				t.errorf(it.pos, "write values as strings", "%s.parallel.matrix.%s: expected a value, found %s", j.name, k.value, kindName(it))
				return me, false
			}
			if !pipeline.IsMatrixValue(it.value) {
				t.errorf(it.pos, "pipe names matrix steps by their values: use letters, digits and . _ - + : / @",
					"%s.parallel.matrix.%s: %q cannot be part of a step name", j.name, k.value, it.value)
				return me, false
			}
			if !contains(a.values, it.value) {
				a.values = append(a.values, it.value)
			}
		}
		if len(a.values) == 0 {
			t.errorf(v.pos, "list at least one value", "%s.parallel.matrix.%s has no values", j.name, k.value)
			return me, false
		}
		me.axes = append(me.axes, a)
	}
	return me, len(me.axes) > 0
}

// servicesUseMatrix reports whether the job's services name a matrix
// variable ($NAME or ${NAME}): pipe services are declared once, so such a
// job becomes one step per combination.
func servicesUseMatrix(j *jobInfo) bool {
	svcs := j.n.get("services")
	if svcs == nil {
		return false
	}
	for _, me := range j.matrix {
		for _, a := range me.axes {
			if mentions(svcs, a.name) {
				return true
			}
		}
	}
	return false
}

// mentions reports whether a scalar under n references $name or ${name}.
func mentions(n *node, name string) bool {
	if n == nil {
		return false
	}
	if n.kind == kScalar {
		for _, ref := range []string{"$" + name, "${" + name + "}"} {
			for i := strings.Index(n.value, ref); i >= 0; {
				end := i + len(ref)
				if ref[1] == '{' || end >= len(n.value) || !isVarChar(n.value[end]) {
					return true
				}
				next := strings.Index(n.value[end:], ref)
				if next < 0 {
					break
				}
				i = end + next
			}
		}
		return false
	}
	for _, c := range append(append([]*node{}, n.vals...), n.items...) {
		if mentions(c, name) {
			return true
		}
	}
	return false
}

// fixedCombos turns matrix entries into one fixed entry per combination.
func fixedCombos(entries []mEntry) []mEntry {
	var out []mEntry
	for _, me := range entries {
		combos := [][]mAxis{nil}
		for _, a := range me.axes {
			var next [][]mAxis
			for _, c := range combos {
				for _, v := range a.values {
					next = append(next, append(append([]mAxis{}, c...), mAxis{name: a.name, values: []string{v}}))
				}
			}
			combos = next
		}
		for _, c := range combos {
			out = append(out, mEntry{axes: c, fixed: true})
		}
	}
	return out
}

// values are the values of a fixed combination, in axis order.
func (me mEntry) values() []string {
	out := make([]string, len(me.axes))
	for i, a := range me.axes {
		out[i] = a.values[0]
	}
	return out
}
