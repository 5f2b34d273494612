// Package github is pipe's implementation of the GitHub Actions runner's
// container hooks (ACTIONS_RUNNER_CONTAINER_HOOKS): the four commands
// prepare_job, run_script_step, run_container_step and cleanup_job, each a
// separate process that reads the runner's camelCase JSON on stdin and
// answers in the response file the runner pre-created.
//
// It is a thin adapter onto executor jobs: prepare_job creates one (the job
// container with the runner's mounts, the services by context name) that
// lives on between commands, its name carried in the hook's state; the
// step commands exec in it or run a container of their own on its network;
// cleanup_job destroys it. It owns no container logic.
package github
