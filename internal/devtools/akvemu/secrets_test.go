package akvemu_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

func TestSecretVersionsAndAttributes(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	c := appASecrets(t, s)
	v1, err := c.SetSecret(ctx(t), "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("first")}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	v2, err := c.SetSecret(ctx(t), "db-password", azsecrets.SetSecretParameters{
		Value: to.Ptr("second"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("dev")},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	if len(v2.ID.Version()) != 32 || v2.ID.Version() == v1.ID.Version() {
		t.Fatalf("versions %q %q", v1.ID.Version(), v2.ID.Version())
	}
	if want := "https://vault-a.vault.azure.net/secrets/db-password/" + v2.ID.Version(); string(*v2.ID) != want {
		t.Fatalf("id %s, want %s", *v2.ID, want)
	}
	latest, err := c.GetSecret(ctx(t), "db-password", "", nil)
	if err != nil || *latest.Value != "second" || *latest.ContentType != "text/plain" || *latest.Tags["env"] != "dev" || !*latest.Attributes.Enabled {
		t.Fatalf("latest: %+v, %v", latest, err)
	}
	if latest.Attributes.RecoveryLevel == nil || *latest.Attributes.RecoveryLevel != "Recoverable+Purgeable" || latest.Attributes.Created == nil {
		t.Fatalf("attributes: %+v", latest.Attributes)
	}
	old, err := c.GetSecret(ctx(t), "DB-PASSWORD", v1.ID.Version(), nil)
	if err != nil || *old.Value != "first" {
		t.Fatalf("version 1 (names are case-insensitive): %+v, %v", old, err)
	}

	upd, err := c.UpdateSecretProperties(ctx(t), "db-password", v2.ID.Version(), azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil)
	if err != nil || *upd.Attributes.Enabled || upd.Value != nil {
		t.Fatalf("UpdateSecretProperties: %+v, %v", upd, err)
	}
	_, err = c.GetSecret(ctx(t), "db-password", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")
	if !strings.Contains(err.Error(), "Operation get is not allowed on a disabled secret") {
		t.Errorf("message: %v", err)
	}
	if _, err := c.GetSecret(ctx(t), "db-password", v1.ID.Version(), nil); err != nil {
		t.Fatalf("an enabled older version stays readable: %v", err)
	}

	var versions []string
	for pager := c.NewListSecretPropertiesVersionsPager("db-password", nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			versions = append(versions, p.ID.Version())
		}
	}
	if len(versions) != 2 || versions[0] != v1.ID.Version() || versions[1] != v2.ID.Version() {
		t.Fatalf("versions %v", versions)
	}

	_, err = c.GetSecret(ctx(t), "db-password", "0123456789abcdef0123456789abcdef", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	_, err = c.GetSecret(ctx(t), "missing", "", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	_, err = c.SetSecret(ctx(t), "bad_name", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	responseError(t, err, http.StatusBadRequest, "BadParameter")
}

func TestSecretDeleteRecoverPurge(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	del, err := c.DeleteSecret(ctx(t), "greeting", nil)
	if err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	if del.RecoveryID == nil || !strings.HasSuffix(*del.RecoveryID, "/deletedsecrets/greeting") || del.DeletedDate == nil || del.ScheduledPurgeDate == nil || del.Value != nil {
		t.Fatalf("deleted bundle: %+v", del.DeletedSecret)
	}
	_, err = c.GetSecret(ctx(t), "greeting", "", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	_, err = c.SetSecret(ctx(t), "greeting", azsecrets.SetSecretParameters{Value: to.Ptr("again")}, nil)
	responseError(t, err, http.StatusConflict, "Conflict")
	if _, err := c.GetDeletedSecret(ctx(t), "greeting", nil); err != nil {
		t.Fatalf("GetDeletedSecret: %v", err)
	}
	deleted := 0
	for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(page.Value)
	}
	if deleted != 1 {
		t.Fatalf("deleted secrets listed: %d", deleted)
	}
	if _, err := c.RecoverDeletedSecret(ctx(t), "greeting", nil); err != nil {
		t.Fatalf("RecoverDeletedSecret: %v", err)
	}
	if got, err := c.GetSecret(ctx(t), "greeting", "", nil); err != nil || *got.Value != "hello" {
		t.Fatalf("recovered secret: %v", err)
	}
	if _, err := c.DeleteSecret(ctx(t), "greeting", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx(t), "greeting", nil); err != nil {
		t.Fatalf("PurgeDeletedSecret: %v", err)
	}
	_, err = c.GetDeletedSecret(ctx(t), "greeting", nil)
	responseError(t, err, http.StatusNotFound, "SecretNotFound")
	if _, err := c.SetSecret(ctx(t), "greeting", azsecrets.SetSecretParameters{Value: to.Ptr("new")}, nil); err != nil {
		t.Fatalf("SetSecret after purge: %v", err)
	}
}

func TestSecretPaging(t *testing.T) {
	seed := baseSeed()
	for i := range 30 {
		seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: fmt.Sprintf("secret-%02d", i), Value: to.Ptr("v")})
	}
	versions := make([]akvemu.SecretVersionSeed, 27)
	for i := range versions {
		versions[i] = akvemu.SecretVersionSeed{Value: fmt.Sprint(i)}
	}
	seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: "rotating", Versions: versions})
	s := akvemu.StartForTest(t, seed)
	c := appASecrets(t, s)

	var names []string
	pages := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); pages++ {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if page.NextLink != nil && !strings.HasPrefix(*page.NextLink, "https://vault-a.vault.azure.net/secrets?") || page.NextLink != nil && !strings.Contains(*page.NextLink, "$skiptoken=") {
			t.Fatalf("nextLink %s", *page.NextLink)
		}
		for _, p := range page.Value {
			names = append(names, p.ID.Name())
		}
	}
	if pages != 2 || len(names) != 31 || names[0] != "rotating" || names[1] != "secret-00" || names[30] != "secret-29" {
		t.Fatalf("%d pages, names %v", pages, names)
	}

	var values []string
	pages = 0
	for pager := c.NewListSecretPropertiesVersionsPager("rotating", nil); pager.More(); pages++ {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			got, err := c.GetSecret(ctx(t), "rotating", p.ID.Version(), nil)
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, *got.Value)
		}
	}
	if pages != 2 || len(values) != 27 || values[0] != "0" || values[26] != "26" {
		t.Fatalf("%d pages, values %v", pages, values)
	}
	if got := s.Counters().Snapshot().Count(vaultA, "ListSecretVersions", http.StatusOK); got != 2 {
		t.Errorf("ListSecretVersions counted %d", got)
	}
}

func TestConcurrentReads(t *testing.T) {
	s := akvemu.StartForTest(t, withSecret(baseSeed()))
	c := appASecrets(t, s)
	const workers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				got, err := c.GetSecret(ctx(t), "greeting", "", nil)
				if err == nil && *got.Value != "hello" {
					err = fmt.Errorf("value %q", *got.Value)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	// Writers at the same time.
	wg.Go(func() {
		for i := range 50 {
			if _, err := c.SetSecret(ctx(t), "counter", azsecrets.SetSecretParameters{Value: to.Ptr(fmt.Sprint(i))}, nil); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.Counters().Snapshot().Count(vaultA, "GetSecret", http.StatusOK); got != workers*each {
		t.Fatalf("reads counted %d, want %d", got, workers*each)
	}
}

func TestPageSizeOption(t *testing.T) {
	seed := baseSeed()
	for i := range 12 {
		seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: fmt.Sprintf("s%02d", i), Value: to.Ptr("v")})
	}
	s, err := akvemu.New(akvemu.Options{Seed: seed, PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	pages, n := 0, 0
	for pager := appASecrets(t, s).NewListSecretPropertiesPager(nil); pager.More(); pages++ {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if pages != 3 || n != 12 {
		t.Fatalf("%d pages, %d secrets; want 3 pages of at most 5", pages, n)
	}
}
