// Package gitlab is pipe's driver for GitLab Runner's Custom executor: the
// four executables config_exec, prepare_exec, run_exec and cleanup_exec
// (pipe gitlab config|prepare|run|cleanup), each a separate process the
// runner starts with the job's variables as CUSTOM_ENV_*.
//
// It is a thin adapter: it reads the runner's calling convention (the
// environment, JOB_RESPONSE_FILE, the stage name, the exit-code variables)
// and turns it into executor job calls. prepare creates a job (the build
// container from the job's image, a helper container of the host's git and
// gitlab-runner, the job's services) that lives on after prepare exits;
// run execs a stage's script in the container GitLab's Docker executor
// would use; cleanup destroys the job, or keeps a failed one for pipe debug
// --last. It owns no container logic and never prints on its own: it
// writes to the writers it is given.
package gitlab
