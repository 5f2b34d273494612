package github

import (
	"fmt"
	"strings"
)

// The artifacts of a job are files under ShareDir in the workspace: the
// job's output, which the jobs that need it see.

const artifactDir = "/workspace/" + ShareDir + "/artifacts"

// withString reads a with: value that must be known at translation.
func (t *translator) withString(d *decoder, e entry, with map[string]tmpl, key, def string) string {
	tm, ok := with[key]
	if !ok {
		return def
	}
	s, known := tm.static()
	if !known {
		d.errorf(e.v, "write the value in the workflow", "with.%s: the value must be known when the workflow is translated", key)
		return def
	}
	if s == "" {
		return def
	}
	return s
}

// pathWord is a path for the shell: ~/ is $HOME, globs stay unquoted when
// they are plain.
func pathWord(p string, glob bool) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return `"$HOME"/` + pathWord(rest, glob)
	}
	if p == "~" {
		return `"$HOME"`
	}
	if glob && strings.ContainsAny(p, "*?[") && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/*?-[]") == "" {
		return strings.ReplaceAll(p, "**", "*")
	}
	return shQuote(p)
}

func (t *translator) uploadArtifact(d *decoder, e entry, with map[string]tmpl) string {
	name := sanitizeName(t.withString(d, e, with, "name", "artifact"))
	var paths []string
	for _, p := range lines(t.withString(d, e, with, "path", "")) {
		if strings.HasPrefix(p, "!") {
			d.warnf(e.v, "", "upload-artifact: the exclusion %s is not applied", p)
			continue
		}
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		d.errorf(e.v, "add with: {path: dist/}", "actions/upload-artifact needs a path")
		return ""
	}
	missing := t.withString(d, e, with, "if-no-files-found", "warn")
	dir := artifactDir + "/" + name
	var b strings.Builder
	fmt.Fprintf(&b, "__gh_a=%s\nrm -rf \"$__gh_a\" && mkdir -p \"$__gh_a\"\n__gh_n=0\n", shQuote(dir))
	if len(paths) == 1 && !strings.ContainsAny(paths[0], "*?[") {
		p := pathWord(paths[0], false)
		fmt.Fprintf(&b, "if [ -d %[1]s ]; then cp -a %[1]s/. \"$__gh_a\"/; __gh_n=1; elif [ -e %[1]s ]; then cp -a %[1]s \"$__gh_a\"/; __gh_n=1; fi\n", p)
	} else {
		var words []string
		for _, p := range paths {
			words = append(words, pathWord(p, true))
		}
		fmt.Fprintf(&b, "for __gh_f in %s; do\n  if [ -e \"$__gh_f\" ]; then mkdir -p \"$__gh_a/$(dirname \"$__gh_f\")\" && cp -a \"$__gh_f\" \"$__gh_a/$__gh_f\"; __gh_n=$((__gh_n+1)); fi\ndone\n", strings.Join(words, " "))
	}
	none := "echo " + shQuote("pipe: actions/upload-artifact "+name+": no files found at "+strings.Join(paths, ", "))
	switch missing {
	case "error":
		none += "; exit 1"
	case "ignore":
		none = ":"
	}
	fmt.Fprintf(&b, "if [ \"$__gh_n\" = 0 ]; then %s; else echo \"pipe: actions/upload-artifact %s: $__gh_n path(s) kept for the jobs that need this one\"; fi", none, name)
	return b.String()
}

func (t *translator) downloadArtifact(d *decoder, e entry, with map[string]tmpl) string {
	name := t.withString(d, e, with, "name", "")
	dest := pathWord(t.withString(d, e, with, "path", "."), false)
	var b strings.Builder
	b.WriteString("__gh_src=" + artifactDir + "\nmkdir -p " + dest + "\n")
	if name != "" {
		n := sanitizeName(name)
		fmt.Fprintf(&b, "if [ -d \"$__gh_src/%s\" ]; then cp -a \"$__gh_src/%s\"/. %s/; echo %s\n", n, n, dest, shQuote("pipe: actions/download-artifact: "+name))
		fmt.Fprintf(&b, "else echo %s; exit 1; fi", shQuote("pipe: actions/download-artifact: no artifact "+name+": the job that uploads it must be in this job's needs"))
		return b.String()
	}
	pattern := t.withString(d, e, with, "pattern", "*")
	merge := t.withString(d, e, with, "merge-multiple", "false") == "true"
	b.WriteString("for __gh_x in \"$__gh_src\"/*/; do\n  [ -d \"$__gh_x\" ] || continue\n  __gh_n=$(basename \"$__gh_x\")\n")
	fmt.Fprintf(&b, "  case $__gh_n in %s) ;; *) continue ;; esac\n", pathWord(pattern, true))
	if merge {
		fmt.Fprintf(&b, "  cp -a \"$__gh_x\". %s/\n", dest)
	} else {
		fmt.Fprintf(&b, "  mkdir -p %[1]s/\"$__gh_n\" && cp -a \"$__gh_x\". %[1]s/\"$__gh_n\"/\n", dest)
	}
	b.WriteString("  echo \"pipe: actions/download-artifact: $__gh_n\"\ndone")
	return b.String()
}

// cache translates actions/cache (restore now, save at the end of a job
// that succeeded), actions/cache/restore and actions/cache/save, on one
// pipe cache volume holding an entry per key.
func (t *translator) cache(sc *jobScope, d *decoder, e entry, name string, with map[string]tmpl, s *shellStep) (main, post []*shellStep) {
	key := t.withString(d, e, with, "key", "")
	paths := lines(t.withString(d, e, with, "path", ""))
	if key == "" || len(paths) == 0 {
		d.errorf(e.v, "add with: {key: ..., path: ...}", "%s needs a key and a path", name)
		return nil, nil
	}
	if !containsCache(t.out.caches, cacheVolume) {
		t.out.caches = append(t.out.caches, cacheDecl{name: cacheVolume, path: CacheDir})
	}
	sc.ps.caches = addUnique(sc.ps.caches, cacheVolume)
	k := cacheKeyDir(key)
	if name == "actions/cache/save" {
		s.body = cacheSave(key, paths)
		return []*shellStep{s}, nil
	}
	var restore []string
	for _, r := range lines(t.withString(d, e, with, "restore-keys", "")) {
		restore = append(restore, shQuote(cacheKeyDir(r)))
	}
	hit := fmt.Sprintf("%s/cachehit.%d", RunnerDir, s.n)
	var b strings.Builder
	fmt.Fprintf(&b, "__gh_v=%s __gh_k=%s __gh_hit=false __gh_src=\n", CacheDir, shQuote(k))
	b.WriteString("if [ -d \"$__gh_v/$__gh_k\" ]; then __gh_src=$__gh_v/$__gh_k __gh_hit=true\n")
	if len(restore) > 0 {
		fmt.Fprintf(&b, "else for __gh_p in %s; do __gh_src=$(ls -td -- \"$__gh_v/$__gh_p\"* 2>/dev/null | head -n 1); [ -z \"$__gh_src\" ] || break; done\n", strings.Join(restore, " "))
	}
	b.WriteString("fi\nif [ -n \"$__gh_src\" ]; then\n  echo \"pipe: actions/cache: restoring $(cat \"$__gh_src/.key\")\"\n")
	for i, p := range paths {
		w := pathWord(p, false)
		fmt.Fprintf(&b, "  if [ -e \"$__gh_src/%d\" ]; then rm -rf %[2]s; mkdir -p \"$(dirname %[2]s)\"; cp -a \"$__gh_src/%[1]d\" %[2]s; fi\n", i, w)
	}
	fmt.Fprintf(&b, "else echo %s; fi\nprintf %%s \"$__gh_hit\" > %s", shQuote("pipe: actions/cache: no entry for "+key), hit)
	if s.id != "" {
		fmt.Fprintf(&b, "\nmkdir -p \"$__gh_d/out/%s\" && printf %%s \"$__gh_hit\" > \"$__gh_d/out/%s/cache-hit\"", s.id, s.id)
	}
	s.body = b.String()
	if name == "actions/cache/restore" {
		return []*shellStep{s}, nil
	}
	sc.n++
	save := &shellStep{n: sc.n, name: "Post " + s.name, body: cacheSave(key, paths),
		cond: "__gh_ok && [ \"$(cat " + hit + " 2>/dev/null)\" != true ]"}
	return []*shellStep{s}, []*shellStep{save}
}

func cacheSave(key string, paths []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "__gh_v=%s __gh_k=%s\n__gh_t=\"$__gh_v/.tmp.$$\"\nrm -rf \"$__gh_t\" && mkdir -p \"$__gh_t\"\n", CacheDir, shQuote(cacheKeyDir(key)))
	for i, p := range paths {
		w := pathWord(p, false)
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then cp -a %[1]s \"$__gh_t/%[2]d\"; fi\n", w, i)
	}
	fmt.Fprintf(&b, "printf %%s %s > \"$__gh_t/.key\"\n", shQuote(key))
	b.WriteString("if [ -e \"$__gh_v/$__gh_k\" ]; then rm -rf \"$__gh_t\"; else mv \"$__gh_t\" \"$__gh_v/$__gh_k\"; fi\n")
	fmt.Fprintf(&b, "echo %s", shQuote("pipe: actions/cache: saved "+key))
	return b.String()
}

// cacheKeyDir is the directory of a cache key in the volume: the key with
// what a file name cannot hold replaced, which keeps prefixes prefixes.
func cacheKeyDir(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if strings.HasPrefix(s, ".") {
		s = "_" + s[1:]
	}
	return s
}

func containsCache(list []cacheDecl, name string) bool {
	for _, c := range list {
		if c.name == name {
			return true
		}
	}
	return false
}
