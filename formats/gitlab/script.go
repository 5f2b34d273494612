package gitlab

import (
	"strings"
)

// commands reads a script:, before_script: or after_script: value: one
// string or a list (nested lists, which !reference leaves, flattened).
func (t *translator) commands(j *jobInfo, key string) []string {
	n := j.n.get(key)
	if n == nil || n.isNull() {
		return nil
	}
	if n.kind == kScalar {
		return []string{n.value}
	}
	if !n.isSeq() {
		t.errorf(n.pos, "write "+key+": as a list of commands", "%s.%s: expected a list of commands, found %s", j.name, key, kindName(n))
		return nil
	}
	var out []string
	for _, it := range flatten(n.items, 0) {
		if it.isNull() {
			continue // an empty entry, or a !reference already reported
		}
		if it.kind != kScalar {
			t.errorf(it.pos, "each entry is one command", "%s.%s: expected a command, found %s", j.name, key, kindName(it))
			continue
		}
		out = append(out, it.value)
	}
	return out
}

// script builds the job's shell script, run by pipe with sh -e. As GitLab's
// runner does, it prints "$ command" before each command (the first line
// of a multi-line one), runs before_script and script in one shell that
// stops at the first failure and, when there is an after_script, runs it
// afterwards in a shell of its own, whatever the script did, with
// CI_JOB_STATUS set to success or failed; the job's exit code is the
// script's, whatever after_script does.
func script(before, main, after []string) string {
	var b strings.Builder
	body := append(append([]string(nil), before...), main...)
	if len(after) == 0 {
		writeCommands(&b, body)
		return b.String()
	}
	b.WriteString("set +e\n(\nset -e\n")
	writeCommands(&b, body)
	b.WriteString(")\n__pipe_exit=$?\n")
	b.WriteString("if [ \"$__pipe_exit\" -eq 0 ]; then CI_JOB_STATUS=success; else CI_JOB_STATUS=failed; fi\n")
	b.WriteString("export CI_JOB_STATUS\n")
	b.WriteString("printf '%s\\n' 'Running after_script'\n(\nset -e\n")
	writeCommands(&b, after)
	b.WriteString(")\n__pipe_after=$?\n")
	b.WriteString("[ \"$__pipe_after\" -eq 0 ] || printf 'after_script failed with exit code %s: the job keeps the exit code of its script\\n' \"$__pipe_after\"\n")
	b.WriteString("exit \"$__pipe_exit\"\n")
	return b.String()
}

func writeCommands(b *strings.Builder, cmds []string) {
	for _, c := range cmds {
		echo := c
		if i := strings.IndexByte(c, '\n'); i >= 0 && strings.TrimSpace(c[i:]) != "" {
			echo = c[:i] + " # collapsed multi-line command"
		}
		b.WriteString("printf '%s\\n' " + shellQuote("$ "+strings.TrimRight(echo, "\n")) + "\n")
		b.WriteString(strings.TrimRight(c, "\n"))
		b.WriteString("\n")
	}
}

// shellQuote quotes s for sh: in single quotes, a quote inside written as
// quote, backslash-quote, quote (which closes, escapes and reopens).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
