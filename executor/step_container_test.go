package executor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
)

// A container that cannot be destroyed does not fail its step (the step
// ended as it ended) but fails the run, which says which step's it was.
func TestRunReportsContainersNotDestroyed(t *testing.T) {
	e := newFakeEnv(t)
	e.rt = &undestroyable{Runtime: e.rt}
	const yml = `
steps:
  a: {run: ["true"]}
  b: {needs: [a], run: [echo b > b.txt]}
`
	sum, log, err := e.run(context.Background(), yml, nil)
	if err == nil || !strings.Contains(err.Error(), "step a: destroy container: stuck") || !strings.Contains(err.Error(), "step b: destroy container: stuck") {
		t.Errorf("run error %v, want both containers not destroyed", err)
	}
	if sum == nil {
		t.Fatal("no summary")
	}
	wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusOK, "b": runlog.StatusOK})
}

// undestroyable's containers are destroyed, and then say they were not.
type undestroyable struct{ Runtime }

func (u *undestroyable) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	c, err := u.Runtime.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	return stuckContainer{c}, nil
}

type stuckContainer struct{ Container }

func (c stuckContainer) Destroy() error {
	return errors.Join(c.Container.Destroy(), errors.New("stuck"))
}
