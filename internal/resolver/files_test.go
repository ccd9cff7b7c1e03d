package resolver_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// filesPod admits a pod that declares files through the real webhook and
// stores it.
func (w *world) filesPod(name string, annotations map[string]string, containers ...corev1.Container) *corev1.Pod {
	w.t.Helper()
	p := podSpec(w.ns, name, containers...)
	p.Annotations = annotations
	injector := &webhook.Defaulter{Reader: suite.client, Options: webhook.Options{
		Image:    "registry.test/latchkey-env:test",
		Resolver: &webhook.ResolverOptions{URL: w.r.url, Audience: audience, CAConfigMap: caConfigMap},
		Marks:    suite.marks,
	}}
	if err := injector.Default(context.Background(), p); err != nil {
		w.t.Fatalf("webhook: %v", err)
	}
	return w.store(p)
}

// TestFiles: the writer container gets its files' values from the real
// resolver, as the webhook declared them in its env; a refresh that names
// what it holds is answered "unchanged" from the shared cache, with no
// Key Vault read; and each way of asking for a file the stored pod does
// not declare for that container is refused.
func TestFiles(t *testing.T) {
	// A resolver of its own: the test moves its clock past the pod cache.
	w := newWorld(t, newResolver(t, nil))
	w.akvs("web", vault, "web-tls", v2beta1.ObjectTypeCertificate)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	ann := map[string]string{"latchkey.dev/file.tls.crt": "web?tls.crt", "latchkey.dev/file.tls.key": "web?tls.key", "latchkey.dev/files-refresh": "true"}
	pod := w.filesPod("files-1", ann, app("app"))
	// The writer's bindings, as it builds them from LATCHKEY_FILES.
	files := []envexec.Binding{
		{Index: 0, Var: "LATCHKEY_FILE_0", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.crt"}},
		{Index: 1, Var: "LATCHKEY_FILE_1", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.key"}},
	}
	values, err := binaryClient(t, w.r, pod, podcontract.FilesWriterContainer, suite.pki.caFile).Resolve(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair([]byte(values[0]), []byte(values[1])); err != nil {
		t.Fatalf("tls.crt and tls.key do not make a key pair: %v", err)
	}

	// The sidecar holds them: unchanged, and no Key Vault read.
	sidecar := binaryClient(t, w.r, pod, podcontract.FilesRefreshContainer, suite.pki.caFile)
	have := map[string]string{"LATCHKEY_FILE_0": protocol.Digest(values[0]), "LATCHKEY_FILE_1": protocol.Digest(values[1])}
	before := kvReads(vault)
	r, err := sidecar.Refresh(context.Background(), files, have)
	if err != nil || !r.Unchanged || r.Values != nil || r.Interval <= 0 {
		t.Fatalf("refresh holding the values = %+v, %v; want unchanged with an interval", r, err)
	}
	if n := kvReads(vault) - before; n != 0 {
		t.Errorf("an unchanged refresh cost %d Key Vault reads", n)
	}
	// Holding an old value: the values come.
	have["LATCHKEY_FILE_1"] = protocol.Digest("old")
	if r, err := sidecar.Refresh(context.Background(), files, have); err != nil || r.Unchanged || r.Values[1] != values[1] {
		t.Errorf("refresh holding an old value: unchanged %v, %v", r.Unchanged, err)
	}
	noValues(t, "the resolver's log", w.r.logs.String())

	other := w.pod("files-other", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, pod, audience)
	for _, tt := range []struct {
		name      string
		token     string
		container string
		env       map[string]string
		status    int
		code      string
		setup     func(t *testing.T)
	}{
		{name: "undeclared file", token: tok, container: podcontract.FilesWriterContainer,
			env: map[string]string{"LATCHKEY_FILE_2": "db@azurekeyvault"}, status: http.StatusForbidden, code: protocol.CodePlaceholderNotInSpec},
		{name: "another object under a declared file", token: tok, container: podcontract.FilesWriterContainer,
			env: map[string]string{"LATCHKEY_FILE_0": "db@azurekeyvault"}, status: http.StatusForbidden, code: protocol.CodePlaceholderNotInSpec},
		{name: "another container of the pod", token: tok, container: "app",
			env: map[string]string{"LATCHKEY_FILE_0": "web@azurekeyvault?tls.crt"}, status: http.StatusForbidden, code: protocol.CodeContainerNotRewritten},
		{name: "another pod's token", token: token(t, other, audience), container: podcontract.FilesWriterContainer,
			env: map[string]string{"LATCHKEY_FILE_0": "web@azurekeyvault?tls.crt"}, status: http.StatusForbidden, code: protocol.CodeContainerNotFound},
		{name: "annotation edited after creation", token: tok, container: podcontract.FilesWriterContainer,
			env: map[string]string{"LATCHKEY_FILE_0": "db@azurekeyvault"}, status: http.StatusForbidden, code: protocol.CodePlaceholderNotInSpec,
			setup: func(t *testing.T) {
				patch := client.MergeFrom(pod.DeepCopy())
				edited := pod.DeepCopy()
				edited.Annotations["latchkey.dev/file.tls.crt"] = "db"
				if err := suite.client.Patch(context.Background(), edited, patch); err != nil {
					t.Fatal(err)
				}
				// The resolver has seen the edit (its watch brought this
				// version) before it is asked.
				id := resolver.Identity{Namespace: pod.Namespace, ServiceAccount: pod.Spec.ServiceAccountName, PodName: pod.Name, PodUID: pod.UID}
				eventually(t, func() error {
					got, err := w.r.Pods.Get(context.Background(), id)
					if err != nil {
						return err
					}
					if got.ResourceVersion != edited.ResourceVersion {
						return fmt.Errorf("the resolver holds version %s of the pod, not the edited %s", got.ResourceVersion, edited.ResourceVersion)
					}
					return nil
				})
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			before := kvReads(vault)
			a := ask(t, w.r, tt.token, tt.container, tt.env)
			if a.status != tt.status || a.err.Code != tt.code {
				t.Errorf("answer %d %s, want %d %s: %s", a.status, a.err.Code, tt.status, tt.code, a.raw)
			}
			if n := kvReads(vault) - before; n != 0 {
				t.Errorf("a refused request cost %d Key Vault reads", n)
			}
		})
	}
	// After the edit, the declared file is still served: the annotation
	// was never what authorised it.
	if a := ask(t, w.r, tok, podcontract.FilesWriterContainer, map[string]string{"LATCHKEY_FILE_0": "web@azurekeyvault?tls.crt"}); a.status != http.StatusOK {
		t.Errorf("the declared file after the annotation edit: %d %s", a.status, a.raw)
	}
}

// TestFilesPFX: a certificate declared as a base64 file of its raw value
// reaches the disk as the PKCS#12 bytes Key Vault holds: the writer, run
// from the env the real webhook wrote, asks the real resolver and decodes.
// What it must write comes from the Azure SDK, not from latchkey's reader:
// the backing secret azsecrets reads, base64-decoded, and the leaf
// azcertificates reads must open from it with its private key.
func TestFilesPFX(t *testing.T) {
	w := newWorld(t, suite.res)
	w.akvs("web", vault, "web-tls", v2beta1.ObjectTypeCertificate)
	pod := w.filesPod("files-pfx", map[string]string{
		"latchkey.dev/file.web.pfx":          "web?raw",
		"latchkey.dev/file-encoding.web.pfx": "base64",
	}, app("app"))
	dir := t.TempDir()
	var env []string
	for _, c := range pod.Spec.InitContainers {
		if c.Name != podcontract.FilesWriterContainer {
			continue
		}
		for _, e := range c.Env {
			if e.Name == podcontract.EnvFiles {
				e.Value = strings.Replace(e.Value, podcontract.FilesWriterDir, dir, 1)
			}
			env = append(env, e.Name+"="+e.Value)
		}
	}
	var logs leakcheck.Buffer
	writer := binaryClient(t, w.r, pod, podcontract.FilesWriterContainer, suite.pki.caFile)
	if err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: env, Stderr: &logs, Client: writer}); err != nil {
		t.Fatalf("writer: %v\n%s", err, logs.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "web.pfx"))
	if err != nil {
		t.Fatal(err)
	}

	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, clientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: suite.emu.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := azsecrets.NewClient(suite.emu.VaultURL(vault), cred, &azsecrets.ClientOptions{ClientOptions: suite.emu.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := azcertificates.NewClient(suite.emu.VaultURL(vault), cred, &azcertificates.ClientOptions{ClientOptions: suite.emu.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	backing, err := secrets.GetSecret(context.Background(), "web-tls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := *backing.ContentType; ct != "application/x-pkcs12" {
		t.Fatalf("the backing secret is %s, want a PFX", ct)
	}
	want, err := base64.StdEncoding.DecodeString(*backing.Value)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("web.pfx is %d bytes, not the %d of the PFX Key Vault holds", len(got), len(want))
	}
	cert, err := certs.GetCertificate(context.Background(), "web-tls", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(got, "")
	if err != nil {
		t.Fatalf("web.pfx does not open as PKCS#12: %v", err)
	}
	if !bytes.Equal(leaf.Raw, cert.CER) || len(cas) == 0 {
		t.Errorf("web.pfx holds leaf %s and %d CA certificates; want Key Vault's leaf and its chain", leaf.Subject, len(cas))
	}
	if pub, ok := key.(interface{ Public() crypto.PublicKey }); !ok || !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub.Public()) {
		t.Error("web.pfx's private key is not the leaf's")
	}
	noValues(t, "the writer's log", logs.String())
	noValues(t, "the resolver's log", w.r.logs.String())
}
