package gitlab

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// settings writes when:, allow_failure:, timeout: and retry:.
func (t *translator) settings(d *doc, s *yaml.Node, j *jobInfo) {
	e := d.e
	wpos := nodePos(j.n.keyNode("when"))
	if wpos.Line == 0 || j.n.keyNode("when") == nil {
		wpos = j.key.pos
	}
	switch j.when {
	case "on_failure", "always":
		status := map[string]string{"on_failure": "failure", "always": "always"}[j.when]
		m := e.mapping(wpos)
		e.add(m, "status", e.str(status, wpos), wpos)
		e.add(s, "when", m, wpos)
	case "manual":
		e.add(s, "manual", e.scalar("!!bool", "true", wpos), wpos)
	}
	apos := j.key.pos
	if k := j.n.keyNode("allow_failure"); k != nil {
		apos = k.pos
	}
	switch {
	case len(j.codes) > 0:
		m := e.mapping(apos)
		codes := e.at(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}, apos)
		for _, c := range j.codes {
			codes.Content = append(codes.Content, e.scalar("!!int", strconv.Itoa(c), apos))
		}
		e.add(m, "exit_codes", codes, apos)
		e.add(s, "allow_failure", m, apos)
	case j.allow:
		e.add(s, "allow_failure", e.scalar("!!bool", "true", apos), apos)
	}
	if v := j.n.get("timeout"); v != nil {
		if dur, ok := t.timeout(j, v); ok {
			e.add(s, "timeout", e.str(dur.String(), v.pos), v.pos)
		}
	}
	if v := j.n.get("retry"); v != nil {
		if n := t.retry(j, v); n > 0 {
			e.add(s, "retry", e.scalar("!!int", strconv.Itoa(n), v.pos), v.pos)
		}
	}
}

var durationPart = sync.OnceValue(func() *regexp.Regexp { // on first use
	return regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*(?:and\s+|,\s*)?`)
})

// parseDuration reads GitLab's human durations: "1h 30m", "3 hours",
// "90 minutes", "1 day", "3600" (seconds), "1h30m".
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	var total time.Duration
	for s != "" {
		m := durationPart().FindStringSubmatch(s)
		if m == nil {
			return 0, false
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		unit, ok := durationUnit(strings.ToLower(m[2]))
		if !ok {
			return 0, false
		}
		total += time.Duration(f * float64(unit))
		s = s[len(m[0]):]
	}
	return total, total > 0
}

func durationUnit(u string) (time.Duration, bool) {
	switch u {
	case "", "s", "sec", "secs", "second", "seconds":
		return time.Second, true
	case "m", "min", "mins", "minute", "minutes":
		return time.Minute, true
	case "h", "hr", "hrs", "hour", "hours":
		return time.Hour, true
	case "d", "day", "days":
		return 24 * time.Hour, true
	case "w", "wk", "week", "weeks":
		return 7 * 24 * time.Hour, true
	}
	return 0, false
}

func (t *translator) timeout(j *jobInfo, v *node) (time.Duration, bool) {
	d, ok := parseDuration(v.value)
	if !v.isStr() || !ok {
		t.errorf(v.pos, "write a duration such as 30m, 1h 30m or 2 hours", "%s.timeout: %s is not a duration", j.name, describe(v))
		return 0, false
	}
	return d, true
}

// retry reads retry: N or {max, when, exit_codes}.
func (t *translator) retry(j *jobInfo, v *node) int {
	max := v
	if v.isMap() {
		max = v.get("max")
		for _, k := range v.keys {
			switch k.value {
			case "max":
			case "when":
				if list, _ := strList(v.get("when")); !(len(list) == 1 && (list[0] == "always" || list[0] == "script_failure")) {
					t.warnf(k.pos, "", "%s.retry.when: pipe retries after any failure", j.name)
				}
			case "exit_codes":
				t.warnf(k.pos, "", "%s.retry.exit_codes: pipe retries after any exit code", j.name)
			default:
				t.errorf(k.pos, "known keys: max, when, exit_codes", "%s.retry: unknown key %q", j.name, k.value)
			}
		}
		if max == nil {
			return 0
		}
	}
	n, ok := intOf(max)
	if !ok || n < 0 || n > 2 {
		t.errorf(nodePos(max), "GitLab retries 0, 1 or 2 times", "%s.retry: %s is not 0, 1 or 2", j.name, describe(max))
		return 0
	}
	return n
}
