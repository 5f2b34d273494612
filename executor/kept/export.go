package kept

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/pipeline"
)

// Export writes the kept failure as a docker-load-compatible OCI image
// tarball: the image's layers, the root upper dir, then the workspace (its
// lowers and its upper dir) as layers under /workspace, with the step's env
// (without secrets), working dir and user in the config, and the shell as
// its command. Its tag is pipe-debug/<step>:<run>.
func Export(ctx context.Context, s *cache.Store, rec *Record, file string) error {
	img, err := keptImage(s, rec)
	if err != nil {
		return fmt.Errorf("export the kept failure of step %s: %w", rec.Step, err)
	}
	tag, err := name.NewTag(exportTag(rec), name.WeakValidation)
	if err != nil {
		return fmt.Errorf("export the kept failure of step %s: tag: %w", rec.Step, err)
	}
	return writeAtomic(file, func(w io.Writer) error { return tarball.Write(tag, img, w) })
}

// keptImage builds the image of the kept state.
func keptImage(s *cache.Store, rec *Record) (v1.Image, error) {
	var layers []v1.Layer
	dirs := append(append([]string(nil), rec.ImageLayers...), filepath.Join(rec.dir, "root"))
	for _, d := range dirs {
		l, err := dirLayer(s, d, "")
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	for i := 0; i <= rec.Lowers; i++ {
		d := filepath.Join(rec.dir, "lower", strconv.Itoa(i))
		if i == rec.Lowers {
			d = filepath.Join(rec.dir, "ws")
		}
		l, err := dirLayer(s, d, strings.TrimPrefix(rec.WorkspaceDir(), "/")+"/")
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	return withKeptConfig(img, rec)
}

// withKeptConfig sets the config: platform, env, working dir, user, command.
func withKeptConfig(img v1.Image, rec *Record) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = rec.Env
	cf.Config.WorkingDir = rec.Dir
	cf.Config.User = rec.User
	cf.Config.Cmd = []string{pipeline.Shell}
	cf.Config.Labels = map[string]string{"run.pipe.step": rec.Step, "run.pipe.run-id": rec.RunID,
		"run.pipe.exit-code": strconv.Itoa(rec.ExitCode), "run.pipe.error": rec.Error}
	return mutate.ConfigFile(img, cf)
}

// exportTag is pipe-debug/<step>:<run>, cut to what a reference allows.
func exportTag(rec *Record) string {
	step := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			return c
		}
		if c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return '-'
	}, rec.Step)
	step = strings.Trim(step, "-")
	if step == "" {
		step = "step"
	}
	return "pipe-debug/" + step + ":" + strings.ToLower(rec.RunID)
}

// dirLayer is an overlay-form dir as a layer, its paths under prefix.
func dirLayer(s *cache.Store, dir, prefix string) (v1.Layer, error) {
	open := func() (io.ReadCloser, error) {
		if prefix == "" {
			return s.LayerTar(dir), nil
		}
		return prefixTar(s.LayerTar(dir), prefix), nil
	}
	return tarball.LayerFromOpener(open, tarball.WithCompressionLevel(gzip.BestSpeed))
}

// prefixTar re-roots a layer tar under prefix ("workspace/"), which it
// starts with a directory entry for.
func prefixTar(in io.ReadCloser, prefix string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer in.Close()
		pw.CloseWithError(copyPrefixed(tar.NewReader(in), tar.NewWriter(pw), prefix))
	}()
	return pr
}

func copyPrefixed(tr *tar.Reader, tw *tar.Writer, prefix string) error {
	root := &tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: 0o755, Format: tar.FormatPAX}
	if err := tw.WriteHeader(root); err != nil {
		return err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		h.Name = prefix + strings.TrimPrefix(h.Name, "./")
		if h.Typeflag == tar.TypeLink {
			h.Linkname = prefix + strings.TrimPrefix(h.Linkname, "./")
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// writeAtomic writes file through a temp file in its dir and a rename.
func writeAtomic(file string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), file)
}
