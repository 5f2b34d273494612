package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest pipeline file Parse accepts.
const MaxFileSize = 64 << 20

// Load reads and parses the pipeline file at path. Problems in the file come
// back as an ErrorList whose positions name path as given.
func Load(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, validates and resolves a pipeline file. filename is used in
// error positions only. On any problem it returns a nil Pipeline and an
// ErrorList holding every problem found, sorted by position.
func Parse(filename string, data []byte) (p *Pipeline, err error) {
	defer func() {
		// Bad input must never crash pipe; a panic here is a bug, reported
		// as a problem of the file rather than a crash.
		if r := recover(); r != nil {
			p, err = nil, ErrorList{{Pos: Pos{File: filename, Line: 1, Col: 1},
				Msg: fmt.Sprintf("internal error while reading the file: %v", r), Hint: "please report this bug with the file"}}
		}
	}()
	root, errs := parseYAML(filename, data)
	if errs != nil {
		return nil, errs
	}
	ps := newParser(filename, len(data))
	ps.file(root)
	if err := ps.errs.err(); err != nil {
		return nil, err
	}
	return ps.p, nil
}

// parseYAML reads the single YAML document of data into a node tree.
func parseYAML(filename string, data []byte) (*yaml.Node, ErrorList) {
	at := func(line int, msg, hint string) ErrorList {
		return ErrorList{{Pos: Pos{File: filename, Line: line, Col: 1}, Msg: msg, Hint: hint}}
	}
	if len(data) > MaxFileSize {
		return nil, at(1, fmt.Sprintf("file is %d bytes, more than the %d pipe reads", len(data), MaxFileSize), "split the pipeline")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, at(1, "file is empty", "start it with version: 1 and a steps: mapping")
		}
		return nil, ErrorList{YAMLError(filename, data, err)}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			return nil, ErrorList{YAMLError(filename, data, err)}
		}
		return nil, at(line, "more than one YAML document (---)", "keep one pipeline per file")
	}
	if len(doc.Content) == 0 {
		return nil, at(1, "file is empty", "start it with version: 1 and a steps: mapping")
	}
	return doc.Content[0], nil
}

// yamlLine finds "line N: " in yaml.v3's messages.
// Compiled on first use: a package-level regexp costs every pipe process
// its compile (and page faults) at start.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// YAMLError turns a yaml.v3 syntax error in data, the contents of filename,
// into an Error at its line with a hint on what to fix. Some yaml.v3
// messages carry no line; the line is then found by parsing ever longer
// prefixes of the file (a binary search). The translators (formats/...)
// report their input's syntax errors with it, as pipe does its own.
func YAMLError(filename string, data []byte, err error) *Error {
	msg := strings.TrimSpace(err.Error())
	line := 0
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		line = firstFailingLine(data, err.Error())
	}
	return &Error{Pos: Pos{File: filename, Line: max(line, 1), Col: 1},
		Msg: "invalid YAML: " + msg, Hint: "fix the YAML syntax: indent with spaces, quote values holding ': ' or starting with { [ * & ! % @"}
}

// firstFailingLine returns the smallest n such that the first n lines of data
// fail to parse with the message want.
func firstFailingLine(data []byte, want string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	lo, hi := 1, len(lines)
	for lo < hi {
		mid := (lo + hi) / 2
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:mid], nil), &n)
		if err != nil && err.Error() == want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
