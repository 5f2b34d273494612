package formats

import "github.com/pipe-run/pipe/pipeline"

// Context is what a translation may know of the world it runs in. cmd/pipe
// fills it from the local git state and the environment; tests fill it by hand.
type Context struct {
	// Git state, as the CI system's predefined variables would give it.
	SHA       string   // the commit checked out; empty outside git
	BeforeSHA string   // the commit before it, when known
	Branch    string   // the branch checked out; empty on a detached head or a tag
	Tag       string   // the tag pointing at SHA, when the run is for a tag
	Event     string   // pipeline.EventPush, EventPullRequest, EventTag, EventManual, EventSchedule
	Changed   []string // paths changed against the base; nil: unknown (every path counts as changed)
	// ProjectName is the repository's directory name (CI_PROJECT_NAME, github.repository's name).
	ProjectName string
	// Selected are the job names given on the command line: a manual job
	// runs only when it is one of them.
	Selected []string
	// Env is the environment pipe runs in, for expressions that read it
	// (rules: if: $VAR, env.*); nil reads nothing.
	Env func(name string) (string, bool)
	// ReadFile reads a repository file by its path relative to the
	// repository root (include: local, local composite actions); nil reads nothing.
	ReadFile func(path string) ([]byte, error)
	// Glob lists the repository files matching a glob relative to the root
	// (rules: exists); nil matches nothing.
	Glob func(pattern string) ([]string, error)
	// Platforms maps a GitHub runs-on label to an image (--platform LABEL=IMAGE).
	Platforms map[string]string
}

// Translation is one translated file.
type Translation struct {
	// Pipeline is the translated pipeline, validated and ready to run.
	Pipeline *pipeline.Pipeline
	// YAML is the equivalent .pipe.yml (what `pipe convert` prints): parsing
	// it gives the same steps, with the same keys, as Pipeline.
	YAML []byte
	// Warnings are what pipe does differently from the CI system, each at
	// its position in the original file ("file:line:col: ...").
	Warnings pipeline.ErrorList
}
