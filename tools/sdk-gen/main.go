// hh-sdk-gen: generates a Pulumi package's Python or Go SDK from its schema, with the code
// generators of github.com/pulumi/pulumi/pkg/v3 (the engine's own version). It stands in for
// `pulumi package gen-sdk --language python|go`, which the CLI delegates to the Python and Go
// language hosts; the Go module proxy here refuses both hosts' modules (pulumi-offline.md), while
// the generators they call are part of pkg/v3, which the engine build has in the module cache.
//
// Usage: hh-sdk-gen <schema.json> <python|go> <out dir>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blang/semver"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "hh-sdk-gen: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: hh-sdk-gen <schema.json> <python|go> <out dir>")
	}
	text, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(text, &spec); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	// The schema is validated against the package metaschema, as `pulumi package gen-sdk` does.
	pkg, diags, err := schema.BindSpec(spec, noDependencies{}, schema.ValidationOptions{})
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return diags
	}
	var files map[string][]byte
	switch args[1] {
	case "python":
		files, err = python.GeneratePackage("pulumi", pkg, nil, noDependencies{})
	case "go":
		files, err = gogen.GeneratePackage("pulumi", pkg, nil)
	default:
		return fmt.Errorf("unknown language %q (python, go)", args[1])
	}
	if err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(args[2], name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// noDependencies loads no other package: a schema that references one is refused (the
// hardened-hosts schema references none; `pulumi package gen-sdk` would start the provider).
type noDependencies struct{}

func (noDependencies) refuse(name string) error {
	return fmt.Errorf("the schema references package %q: hh-sdk-gen loads no other package", name)
}

func (l noDependencies) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, l.refuse(pkg)
}

func (l noDependencies) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, l.refuse(d.Name)
}

func (l noDependencies) LoadPackageReference(pkg string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, l.refuse(pkg)
}

func (l noDependencies) LoadPackageReferenceV2(_ context.Context, d *schema.PackageDescriptor) (schema.PackageReference, error) {
	return nil, l.refuse(d.Name)
}
