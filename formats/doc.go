// Package formats holds what the translators of other CI systems' pipeline
// files (formats/gitlab, formats/github) share: the Context a translation is
// made in (the local git state, the repository's files) and the Translation
// it returns. A translator turns one foreign file into the same
// pipeline.Pipeline a .pipe.yml gives, so that keys, the cache, output and
// debugging are one code path, and into the equivalent .pipe.yml text for
// `pipe convert`.
//
// The package and its translators never run anything and never read the
// environment or the disk by themselves: cmd/pipe fills the Context. They
// import pipeline only.
package formats
