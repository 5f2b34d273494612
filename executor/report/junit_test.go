package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
)

// junitDoc is the JUnit XML a CI reads, with the attributes it requires.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   *int     `xml:"tests,attr"`
	Suites  []struct {
		Name     *string  `xml:"name,attr"`
		Tests    *int     `xml:"tests,attr"`
		Failures *int     `xml:"failures,attr"`
		Skipped  *int     `xml:"skipped,attr"`
		Time     *float64 `xml:"time,attr"`
		Cases    []struct {
			ClassName *string  `xml:"classname,attr"`
			Name      *string  `xml:"name,attr"`
			Time      *float64 `xml:"time,attr"`
			Failure   *struct {
				Message *string `xml:"message,attr"`
				Text    string  `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.xml")
	j := NewJUnitSink(path)
	events := sampleEvents()
	emitAll(j, events[:len(events)-3])
	if _, err := os.Stat(path); err == nil {
		t.Fatal("report written before Close")
	}
	emitAll(j, events[len(events)-3:])
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testSecret) {
		t.Fatal("a secret reached the JUnit report")
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if doc.Tests == nil || *doc.Tests != 5 || len(doc.Suites) != 1 {
		t.Fatalf("want 5 tests in 1 suite:\n%s", b)
	}
	s := doc.Suites[0]
	if s.Name == nil || *s.Name != ".pipe.yml" || *s.Tests != 5 || *s.Failures != 1 || *s.Skipped != 2 || s.Time == nil || *s.Time != 2.6 {
		t.Errorf("suite attributes wrong:\n%s", b)
	}
	byName := map[string]int{}
	for i, c := range s.Cases {
		if c.ClassName == nil || *c.ClassName != ".pipe.yml" || c.Name == nil || c.Time == nil {
			t.Errorf("testcase %d lacks classname, name or time", i)
			continue
		}
		byName[*c.Name] = i
	}
	test := s.Cases[byName["test"]]
	if test.Failure == nil || test.Failure.Message == nil || *test.Failure.Message != "exit code 1" ||
		!strings.Contains(test.Failure.Text, "secret was ***") || !strings.Contains(test.Failure.Text, "pipe debug test") {
		t.Errorf("failure of test: %+v", test.Failure)
	}
	if *test.Time != 2.19 {
		t.Errorf("time of test = %v, want 2.19", *test.Time)
	}
	if c := s.Cases[byName["deploy"]]; c.Skipped == nil || !strings.Contains(c.Skipped.Message, "needs test") {
		t.Errorf("deploy not skipped with its reason")
	}
	if c := s.Cases[byName["notify"]]; c.Skipped == nil || !strings.HasPrefix(c.Skipped.Message, "canceled") {
		t.Errorf("notify not reported as canceled")
	}
	if c := s.Cases[byName["lint"]]; c.Failure != nil || c.Skipped != nil || !strings.Contains(c.SystemOut, "20250228T090000Z-ffff") {
		t.Errorf("lint (cached) wrong")
	}
	if c := s.Cases[byName["build"]]; c.Failure != nil || c.Skipped != nil {
		t.Errorf("build (ok) wrong")
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*"))
	if len(matches) != 0 {
		t.Errorf("temp files left: %q", matches)
	}
}

func TestJUnitSinkUnfinishedStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.xml")
	j := NewJUnitSink(path)
	j.Emit(runlog.Event{Type: runlog.EventStepQueued, Step: "never"})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `<skipped message="not run`) || !strings.Contains(string(b), `classname="pipe"`) {
		t.Errorf("unfinished step:\n%s", b)
	}
}
