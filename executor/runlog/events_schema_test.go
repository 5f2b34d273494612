package runlog

import (
	"os"
	"testing"

	"github.com/pipe-run/pipe/internal/jsonschema"
)

// loadEventSchema reads testdata/event.schema.json.
func loadEventSchema(t *testing.T) jsonschema.Schema {
	t.Helper()
	b, err := os.ReadFile("testdata/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jsonschema.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateEventLines checks every line of a JSON event stream.
func validateEventLines(t *testing.T, s jsonschema.Schema, stream string) {
	t.Helper()
	for _, err := range s.ValidateLines("event", stream) {
		t.Error(err)
	}
}
