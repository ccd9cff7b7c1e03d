// Command crdversions serves one generated CRD schema under several version
// names: it reads the CRD controller-gen wrote for the storage version and
// writes it back with the extra versions added before it, each served, none
// stored, all with the same schema, subresources and printer columns.
//
// akv2k8s users have manifests under spv.no/v1alpha1, v1, v2alpha1 and
// v2beta1. With one schema for all, the API server converts between them by
// rewriting apiVersion alone (conversion strategy None), so no conversion
// webhook sits in the path of every read, garbage collection and namespace
// deletion.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	in := flag.String("in", "", "CRD generated for the storage version")
	out := flag.String("out", "", "file to write")
	extra := flag.String("versions", "", "comma-separated versions to serve with the same schema, oldest first")
	flag.Parse()
	if err := run(*in, *out, strings.Split(*extra, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "crdversions:", err)
		os.Exit(1)
	}
}

func run(in, out string, extra []string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(crd.Spec.Versions) != 1 || !crd.Spec.Versions[0].Storage {
		return fmt.Errorf("%s: want exactly one (storage) version, got %d", in, len(crd.Spec.Versions))
	}
	stored := crd.Spec.Versions[0]
	var versions []apiextensionsv1.CustomResourceDefinitionVersion
	for _, name := range extra {
		v := *stored.DeepCopy()
		v.Name, v.Storage, v.Served = name, false, true
		versions = append(versions, v)
	}
	versions = append(versions, stored)
	crd.Spec.Versions = versions
	crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
	body, err := yaml.Marshal(&crd)
	if err != nil {
		return err
	}
	// Drop the empty status the API types carry; it is not part of a manifest.
	body = []byte(strings.Replace(string(body), "status:\n  acceptedNames:\n    kind: \"\"\n    plural: \"\"\n  conditions: null\n  storedVersions: null\n", "", 1))
	return os.WriteFile(out, append([]byte("---\n"), body...), 0o644)
}
