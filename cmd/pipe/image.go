package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pipe-run/pipe/cache"
	"github.com/spf13/cobra"
)

func newImageCmd(o *output) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Pull, list, remove and import the images steps run in",
		Long: "Images live in pipe's store ($PIPE_HOME, else /var/lib/pipe as root, else\n" +
			"~/.local/share/pipe). Credentials for private registries come from your Docker\n" +
			"config (~/.docker/config.json) and its credential helpers.",
	}
	cmd.AddCommand(newImagePullCmd(o), newImageLsCmd(o), newImageRmCmd(o), newImageImportCmd(o))
	return cmd
}

// openStore opens the store at its default root.

// pullOptions report progress on a terminal and warnings always.
func (o *output) pullOptions() cache.PullOptions {
	po := cache.PullOptions{Warn: func(msg string) {
		fmt.Fprintf(o.stderr, "%s %s\n", o.yellow("warning:"), msg)
	}}
	if isTerminal(o.stderr) {
		po.Progress = o.stderr
	}
	return po
}

func newImagePullCmd(o *output) *cobra.Command {
	var policy, platform string
	cmd := &cobra.Command{
		Use:   "pull IMAGE...",
		Short: "Fetch images into the store (e.g. alpine, registry.example:5000/org/img:tag, img@sha256:...)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			po := o.pullOptions()
			var err error
			if po.Policy, err = cache.ParsePullPolicy(policy); err != nil {
				return withCode(ExitInvalid, fmt.Errorf("--policy: %w", err))
			}
			if po.Platform, err = parsePlatform(platform); err != nil {
				return err
			}
			if err := checkRefs(args); err != nil {
				return err
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			for _, ref := range args {
				img, err := s.Pull(cmd.Context(), ref, po)
				if err != nil {
					return err
				}
				o.printf("%s %s %s\n", o.green("pulled"), cache.FamiliarName(img.Ref), o.faint(img.Digest.String()))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policy, "policy", "always", "always: ask the registry for the current digest; missing: only when not stored")
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to pull from a multi-platform image (default: this host)")
	return cmd
}

// parsePlatform reads --platform; "" is the host's.
func parsePlatform(s string) (*v1.Platform, error) {
	if s == "" {
		return nil, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return nil, usageError("--platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	return p, nil
}

// checkRefs rejects malformed references as invalid input (exit 2).
func checkRefs(refs []string) error {
	for _, r := range refs {
		if _, err := name.ParseReference(r); err != nil {
			return usageError("image %q: %v (want e.g. alpine, registry.example:5000/org/img:tag or img@sha256:<hex>)", r, err)
		}
	}
	return nil
}

func newImageLsCmd(o *output) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images in the store",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			imgs, err := s.Images()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(o, imgs)
			}
			tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tPLATFORM\tDIGEST\tLAYERS\tSIZE\tSTORED")
			for _, i := range imgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", cache.FamiliarName(i.Ref), i.Platform, shortHash(i.Digest), i.Layers, cache.HumanBytes(i.Size), i.Created.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func shortHash(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Algorithm + ":" + h.Hex[:12]
}

func writeJSON(o *output, v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newImageRmCmd(o *output) *cobra.Command {
	return &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"remove"},
		Short:   "Forget images (their layers are freed by pipe cache prune)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if _, err := s.RemoveImage(ref); err != nil {
					if errors.Is(err, cache.ErrNotFound) {
						err = withCode(ExitInvalid, err)
					}
					errs = append(errs, err)
					continue
				}
				o.printf("%s %s\n", o.green("removed"), ref)
			}
			if len(errs) == 0 {
				o.printf("%s\n", o.faint("run `pipe cache prune` to free the layers no image uses"))
			}
			return errors.Join(errs...)
		},
	}
}

func newImageImportCmd(o *output) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE [NAME]",
		Short: "Store an image from a docker save tarball or an OCI layout (dir or tar)",
		Long: "import stores an image with no registry: FILE is a `docker save` tarball, an OCI\n" +
			"image layout directory, or a tar of one. NAME (e.g. mybox:1) is what pipelines then\n" +
			"use as their image; without it, the name recorded in FILE is used.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 2 {
				ref = args[1]
				if err := checkRefs([]string{ref}); err != nil {
					return err
				}
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			img, err := s.Import(cmd.Context(), args[0], ref)
			if err != nil {
				if strings.Contains(err.Error(), "give a NAME") || strings.Contains(err.Error(), "no such file") {
					return withCode(ExitInvalid, err)
				}
				return err
			}
			o.printf("%s %s %s\n", o.green("imported"), cache.FamiliarName(img.Ref), o.faint(img.Digest.String()))
			return nil
		},
	}
}
