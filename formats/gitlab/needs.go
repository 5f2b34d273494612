package gitlab

import (
	"fmt"
	"slices"
	"strings"
)

// resolveNeeds names the jobs' steps, then works out what each needs: its
// needs:, or every job of the earlier stages (but the manual jobs that
// allow failure, which GitLab does not wait for).
func (t *translator) resolveNeeds() {
	byName := map[string]*jobInfo{}
	for _, j := range t.jobs {
		byName[j.name] = j
		j.step = t.stepName(j.name)
		t.parallel(j)
		if servicesUseMatrix(j) {
			j.matrix = fixedCombos(j.matrix)
		}
		if len(j.matrix) > 1 {
			for i, me := range j.matrix {
				if me.fixed {
					j.steps = append(j.steps, t.stepName(j.step+"-"+strings.Join(me.values(), "-")))
				} else {
					j.steps = append(j.steps, t.stepName(fmt.Sprintf("%s-%d", j.step, i+1)))
				}
			}
		} else {
			j.steps = []string{j.step}
		}
		if j.step != j.name {
			t.warnf(j.key.pos, "pipe step names use letters, digits, _ . -: run it with pipe run "+j.step,
				"job %q is step %s", j.name, j.step)
		}
	}
	for _, j := range t.jobs {
		t.jobNeeds(j, byName)
		t.dependencies(j, byName)
	}
	t.dropLoneOnFailure()
}

// jobNeeds sets j.stepDeps.
func (t *translator) jobNeeds(j *jobInfo, byName map[string]*jobInfo) {
	stage := slices.Index(t.stages, j.stage)
	if nn := j.n.get("needs"); nn != nil {
		// As in GitLab, a job with needs: sees the artifacts of the jobs
		// it needs (but those of artifacts: false), not of theirs.
		j.hasNeeds, j.fromSet, j.from = true, true, []string{}
		for _, ref := range t.needRefs(j, nn) {
			d, ok := byName[ref.name]
			switch {
			case !ok && ref.optional:
			case !ok && t.allJobs[ref.name]:
				t.errorf(ref.pos, "add optional: true to the need, or change the rules of "+ref.name,
					"%s.needs: %s is not in the pipeline for this run (%s)", j.name, ref.name, t.refDescription())
			case !ok:
				t.errorf(ref.pos, t.suggest(ref.name, keys(byName), "needs names a job of the file"), "%s.needs: no job %q", j.name, ref.name)
			case slices.Index(t.stages, d.stage) > stage:
				t.errorf(ref.pos, "move "+ref.name+" to an earlier stage, or "+j.name+" to a later one",
					"%s.needs: %s is in the later stage %s", j.name, ref.name, d.stage)
			default:
				j.stepDeps = appendNew(j.stepDeps, d.steps...)
				if !ref.noArtifacts {
					j.from = appendNew(j.from, d.steps...)
				}
			}
		}
		return
	}
	for _, d := range t.jobs {
		if slices.Index(t.stages, d.stage) < stage && !(d.when == "manual" && d.allow) {
			j.stepDeps = appendNew(j.stepDeps, d.steps...)
		}
	}
}

// needRefs reads needs: names and {job, artifacts, optional} entries.
func (t *translator) needRefs(j *jobInfo, nn *node) []needRef {
	if !nn.isSeq() {
		t.errorf(nn.pos, "write needs: [build] or needs: [{job: build, artifacts: false}]", "%s.needs: expected a list, found %s", j.name, kindName(nn))
		return nil
	}
	var out []needRef
	for _, it := range flatten(nn.items, 0) {
		if it.isStr() {
			out = append(out, needRef{name: it.value, pos: it.pos})
			continue
		}
		if !it.isMap() {
			t.errorf(it.pos, "write a job name or {job: name}", "%s.needs: expected a job, found %s", j.name, kindName(it))
			continue
		}
		if r, ok := t.needMap(j, it); ok {
			out = append(out, r)
		}
	}
	return out
}

func (t *translator) needMap(j *jobInfo, it *node) (needRef, bool) {
	r := needRef{pos: it.pos}
	for i, k := range it.keys {
		v := it.vals[i]
		switch k.value {
		case "job":
			r.name, r.pos = strValue(v), v.pos
		case "optional":
			r.optional, _ = boolOf(v)
		case "artifacts":
			if b, ok := boolOf(v); ok && !b {
				r.noArtifacts = true
			}
		case "parallel":
			t.warnf(k.pos, "", "%s.needs: parallel: pipe needs every job of the matrix", j.name)
		case "pipeline", "project", "ref":
			t.errorf(k.pos, "pipe runs this pipeline only: remove the need, or run the other pipeline first", "%s.needs: cross-pipeline needs are not supported", j.name)
			return r, false
		default:
			t.errorf(k.pos, "known keys: job, artifacts, optional", "%s.needs: unknown key %q", j.name, k.value)
		}
	}
	if r.name == "" {
		t.errorf(it.pos, "add job: with the job's name", "%s.needs: entry without job:", j.name)
		return r, false
	}
	return r, true
}

// dependencies reads dependencies:, the jobs whose artifacts the job sees
// (with needs:, among those).
func (t *translator) dependencies(j *jobInfo, byName map[string]*jobInfo) {
	dn := j.n.get("dependencies")
	if dn == nil {
		return
	}
	list, ok := strList(dn)
	if !ok && !dn.isNull() && !(dn.isSeq() && len(dn.items) == 0) {
		t.errorf(dn.pos, "write dependencies: [build]", "%s.dependencies: expected a list of job names, found %s", j.name, kindName(dn))
		return
	}
	stage := slices.Index(t.stages, j.stage)
	deps := []string{}
	for i, name := range list {
		d, ok := byName[name]
		switch {
		case !ok:
			t.errorf(itemPos(dn, i), t.suggest(name, keys(byName), "dependencies names jobs of earlier stages"), "%s.dependencies: %q is not a job of this pipeline", j.name, name)
		case slices.Index(t.stages, d.stage) >= stage && !j.hasNeeds:
			t.errorf(itemPos(dn, i), "dependencies names jobs of earlier stages", "%s.dependencies: %s is not in an earlier stage", j.name, name)
		default:
			deps = appendNew(deps, d.steps...)
		}
	}
	if j.fromSet {
		deps = slices.DeleteFunc(deps, func(s string) bool { return !slices.Contains(j.from, s) })
	}
	j.from, j.fromSet = deps, true
}

// dropLoneOnFailure drops the when: on_failure jobs that need nothing:
// nothing can fail before them, so they never run.
func (t *translator) dropLoneOnFailure() {
	var dropped []string
	kept := t.jobs[:0]
	for _, j := range t.jobs {
		if j.when == "on_failure" && len(j.stepDeps) == 0 {
			t.warnf(j.key.pos, "", "job %s never runs: it is when: on_failure and nothing runs before it", j.name)
			dropped = append(dropped, j.steps...)
			continue
		}
		kept = append(kept, j)
	}
	t.jobs = kept
	for _, j := range t.jobs {
		j.stepDeps = slices.DeleteFunc(j.stepDeps, func(s string) bool { return slices.Contains(dropped, s) })
		j.from = slices.DeleteFunc(j.from, func(s string) bool { return slices.Contains(dropped, s) })
	}
}

// stepName makes a pipe step name of a job name: letters, digits, _ . -,
// not starting with _ . -, unique.
func (t *translator) stepName(job string) string {
	b := []byte(job)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "_.-")
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	s = strings.TrimRight(s, "-")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		s = "job"
	}
	name := s
	for i := 2; t.steps[name]; i++ {
		name = fmt.Sprintf("%s-%d", s, i)
	}
	t.steps[name] = true
	return name
}

func appendNew(list []string, more ...string) []string {
	for _, s := range more {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func keys(m map[string]*jobInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
