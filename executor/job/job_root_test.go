package job

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-run/pipe/isolation"
)

// jobOptions are the options of a test job: the shared store and a state
// dir and cgroup parent of the test's own.
func jobOptions(t *testing.T) Options {
	needsRoot(t)
	dir := t.TempDir()
	return Options{Store: sharedStore(t), Runtime: isolation.Options{StateDir: filepath.Join(dir, "state"), CgroupParent: "pipe-test-jobs"}}
}

// jobLeft lists what is left of a job: its state dir, its container
// records, keeper.
func jobLeft(o Options, name string) []string {
	var left []string
	if _, err := os.Stat(Dir(o.Store, name)); !errors.Is(err, os.ErrNotExist) {
		left = append(left, "state dir")
	}
	recs, _ := filepath.Glob(filepath.Join(o.Runtime.StateDir, "containers", name+"-*"))
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/pipe-test-jobs/" + name + "-*")
	return append(append(left, recs...), cgs...)
}

func TestJobLivesBetweenCallsAndGoesWithDestroy(t *testing.T) {
	o := jobOptions(t)
	spec := &Spec{Name: "t-life", Containers: []Container{{Name: "main", Image: testImage, Env: []string{"A=1"}, Dir: "/tmp", KeepRoot: true}}}
	job, err := Create(context.Background(), spec, o)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Destroy(context.Background())
	out := tempFile(t)
	// A second handle, as a later process would open it.
	j2, err := Open(o.Store, "t-life")
	if err != nil {
		t.Fatal(err)
	}
	res, err := j2.Exec(context.Background(), "main", Process{Args: []string{"sh", "-c", "echo $A $B $PATH; pwd; echo kept > /root/f; exit 4"},
		Env: []string{"B=2"}, PrependPath: []string{"/opt/x"}, Stdout: out, Stderr: out})
	if err != nil || res.ExitCode != 4 {
		t.Fatalf("exec: %+v, %v", res, err)
	}
	if got := readBack(t, out); !strings.HasPrefix(got, "1 2 /opt/x:/usr/local/sbin") || !strings.Contains(got, "\n/tmp\n") {
		t.Errorf("exec output %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(job.Dir, "main", "upper", "root", "f")); err != nil || string(b) != "kept\n" {
		t.Errorf("KeepRoot upper dir: %q, %v", b, err)
	}
	if _, err := j2.Exec(context.Background(), "nope", Process{Args: []string{"true"}}); err == nil || !strings.Contains(err.Error(), `no container "nope"`) {
		t.Errorf("exec in a missing container: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if res, err := j2.Exec(ctx, "main", Process{Args: []string{"sleep", "315"}}); err != nil || !res.Canceled || res.ExitCode != 137 {
		t.Errorf("a canceled exec: %+v, %v; want it killed", res, err)
	}
	waitNoSleep(t, "315")
	run := Container{Name: "once", Image: testImage, Entrypoint: []string{"sh", "-c"}, Args: []string{"cat /root/f 2>/dev/null || echo fresh; exit 6"}}
	out2 := tempFile(t)
	res, err = j2.Run(context.Background(), run, Process{Stdout: out2, Stderr: out2}, o)
	if err != nil || res.ExitCode != 6 || readBack(t, out2) != "fresh\n" {
		t.Errorf("run: %+v, %v, %q", res, err, readBack(t, out2))
	}
	if err := job.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := jobLeft(o, "t-life"); len(left) > 0 {
		t.Errorf("left after Destroy: %v", left)
	}
	if _, err := Open(o.Store, "t-life"); !errors.Is(err, ErrNoJob) {
		t.Errorf("open after Destroy: %v", err)
	}
}

func TestJobWithKilledKeeperIsCleanedUp(t *testing.T) {
	o := jobOptions(t)
	spec := &Spec{Name: "t-killed", Network: "private", Containers: []Container{{Name: "main", Image: testImage}}}
	job, err := Create(context.Background(), spec, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Destroy(context.Background(), o.Store, "t-killed") })
	id, err := readKeeper(job.Dir)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(id.Pid, syscall.SIGKILL)
	waitGone(id, 10*time.Second)
	if _, err := Open(o.Store, "t-killed"); err == nil || !strings.Contains(err.Error(), "keeper is gone") {
		t.Errorf("open with a killed keeper: %v", err)
	}
	if err := Destroy(context.Background(), o.Store, "t-killed"); err != nil {
		t.Fatal(err)
	}
	if left := jobLeft(o, "t-killed"); len(left) > 0 {
		t.Errorf("left after Destroy: %v", left)
	}
}

func TestJobEndsAfterItsMaxLife(t *testing.T) {
	o := jobOptions(t)
	// The max life counts from the create, start included: give it a few
	// times what a start costs here (seconds under qemu's TCG).
	t0 := time.Now()
	probe := &Spec{Name: "t-maxlife-probe", Containers: []Container{{Name: "main", Image: testImage}}}
	if _, err := Create(context.Background(), probe, o); err != nil {
		t.Fatal(err)
	}
	life := max(time.Second, 3*time.Since(t0))
	Destroy(context.Background(), o.Store, "t-maxlife-probe")
	spec := &Spec{Name: "t-maxlife", MaxLife: life, Containers: []Container{{Name: "main", Image: testImage}}}
	if _, err := Create(context.Background(), spec, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Destroy(context.Background(), o.Store, "t-maxlife") })
	for end := time.Now().Add(time.Minute); len(jobLeft(o, "t-maxlife")) > 0 && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	if left := jobLeft(o, "t-maxlife"); len(left) > 0 {
		t.Errorf("left after the job's max life: %v", left)
	}
}

func TestCreateJobFailsCleanly(t *testing.T) {
	o := jobOptions(t)
	spec := &Spec{Name: "t-bad", Containers: []Container{{Name: "main", Image: "pipe.test/missing:1"}}}
	if _, err := Create(context.Background(), spec, o); err == nil || !strings.Contains(err.Error(), "pipe.test/missing:1") {
		t.Errorf("create with a missing image: %v", err)
	}
	svc := &Spec{Name: "t-bad2", Services: []Service{{Name: "s", Image: testImage, Command: []string{"/no/such/cmd"}}},
		Containers: []Container{{Name: "main", Image: testImage}}}
	if _, err := Create(context.Background(), svc, o); err == nil {
		t.Errorf("create with a service that cannot start: no error")
	}
	for _, n := range []string{"t-bad", "t-bad2"} {
		if left := jobLeft(o, n); len(left) > 0 {
			t.Errorf("job %s: left after a failed create: %v", n, left)
		}
	}
}

func tempFile(t *testing.T) *os.File {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readBack(t *testing.T, f *os.File) string {
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitNoSleep(t *testing.T, arg string) {
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		found := false
		pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range pids {
			if b, _ := os.ReadFile(p); string(b) == "sleep\x00"+arg+"\x00" {
				found = true
			}
		}
		if !found {
			return
		}
	}
	t.Errorf("sleep %s still runs after its exec was canceled", arg)
}
