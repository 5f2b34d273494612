package isolation

import (
	"fmt"
	"os"
)

// containerInit is replaced by the real init (work in progress in this commit).
func containerInit() int {
	fmt.Fprintln(os.Stderr, "pipe: container init is not built yet")
	return 3
}
