package gitlab

import (
	"strings"
)

// maxExtendsDepth is how many levels of extends: GitLab follows.
const maxExtendsDepth = 11

// maxReferenceDepth is how deep !reference may nest, as in GitLab.
const maxReferenceDepth = 10

// resolveExtends replaces every job's extends: by the deep merge of what it
// extends (in order, later ones winning) with the job itself on top.
func (t *translator) resolveExtends(root *node) {
	done := map[string]*node{}
	for i, k := range root.keys {
		if root.vals[i].isMap() && !reservedKey(k.value) {
			root.vals[i] = t.extended(root, k.value, done, nil)
		}
	}
}

// extended returns job name with its extends: resolved.
func (t *translator) extended(root *node, name string, done map[string]*node, chain []string) *node {
	if n, ok := done[name]; ok {
		return n
	}
	job := root.get(name)
	ext := job.get("extends")
	if ext == nil {
		done[name] = job
		return job
	}
	var parents []*node
	if ext.isSeq() {
		parents = ext.items
	} else {
		parents = []*node{ext}
	}
	chain = append(chain, name)
	var merged *node
	for _, p := range parents {
		if !p.isStr() {
			t.errorf(p.pos, "write extends: .template or a list of names", "%s.extends: expected a job name, found %s", name, kindName(p))
			continue
		}
		switch parent := root.get(p.value); {
		case contains(chain, p.value):
			t.errorf(p.pos, "remove the extends: that closes the loop", "%s.extends: %s extends itself (%s)", name, p.value, strings.Join(append(chain, p.value), " -> "))
		case len(chain) >= maxExtendsDepth:
			t.errorf(p.pos, "use fewer levels of extends:", "%s.extends: more than %d levels", name, maxExtendsDepth)
		case parent == nil:
			t.errorf(p.pos, t.suggest(p.value, jobNames(root), "extends names a job or a hidden .job of the file or its includes"), "%s.extends: no job %q", name, p.value)
		case !parent.isMap():
			t.errorf(p.pos, "extend a job mapping", "%s.extends: %s is not a job", name, p.value)
		default:
			if ext := t.extended(root, p.value, done, chain); t.copyOK(ext) {
				merged = deepMerge(merged, ext)
			}
		}
	}
	own := job.clone()
	own.del("extends")
	out := deepMerge(merged, own)
	if out.isMap() {
		out.del("extends")
	}
	out.pos = job.pos
	done[name] = out
	return out
}

// resolveReferences replaces every !reference [job, key, ...] by the value
// it names, following references inside it.
func (t *translator) resolveReferences(root *node) {
	for i := range root.vals {
		root.vals[i] = t.references(root, root.vals[i], 0)
	}
}

func (t *translator) references(root, n *node, depth int) *node {
	if n == nil {
		return nil
	}
	if n.tag == "!reference" {
		if depth >= maxReferenceDepth {
			t.errorf(n.pos, "nest fewer !reference tags", "!reference nested more than %d levels", maxReferenceDepth)
			return &node{kind: kScalar, tag: "!!null", pos: n.pos}
		}
		v := t.lookupReference(root, n)
		if v == nil || !t.copyOK(v) {
			return &node{kind: kScalar, tag: "!!null", pos: n.pos}
		}
		return t.references(root, v.clone(), depth+1)
	}
	for i := range n.vals {
		n.vals[i] = t.references(root, n.vals[i], depth)
	}
	for i := range n.items {
		n.items[i] = t.references(root, n.items[i], depth)
	}
	return n
}

// lookupReference finds the value a !reference names.
func (t *translator) lookupReference(root, ref *node) *node {
	if len(ref.items) == 0 {
		t.errorf(ref.pos, "write !reference [.job, script]", "!reference names nothing")
		return nil
	}
	cur := root
	var path []string
	for _, it := range ref.items {
		if !it.isStr() {
			t.errorf(it.pos, "write !reference [.job, script]", "!reference: expected a name, found %s", kindName(it))
			return nil
		}
		path = append(path, it.value)
		next := cur.get(it.value)
		if next == nil {
			t.errorf(it.pos, "the first name is a job or a hidden .job, then its keys", "!reference [%s]: %s not found", strings.Join(path, ", "), it.value)
			return nil
		}
		cur = next
	}
	return cur
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jobNames lists the job-like keys of the file (hidden ones included).
func jobNames(root *node) []string {
	var out []string
	for i, k := range root.keys {
		if root.vals[i].isMap() && !reservedKey(k.value) {
			out = append(out, k.value)
		}
	}
	return out
}
