package akvemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// adminPrefix is where the admin endpoints live on the emulator's own host.
const adminPrefix = "/_emulator/"

// faultsDocument is the JSON of GET /_emulator/faults.
type faultsDocument struct {
	Global FaultConfig            `json:"global"`
	Vaults map[string]FaultConfig `json:"vaults"`
}

// serveAdmin serves the admin API (no authentication: it listens where the
// emulator does, for tests and benchmarks):
//
//	GET    /_emulator/counters           counters as JSON (CounterSnapshot)
//	DELETE /_emulator/counters           reset them (POST /_emulator/counters/reset too)
//	GET    /_emulator/faults             every fault configuration
//	PUT    /_emulator/faults[?vault=v]   set a vault's (or the global) FaultConfig
//	DELETE /_emulator/faults[?vault=v]   clear it; without vault, clear everything
//	GET    /_emulator/ca.pem             the CA certificate
//	GET    /_emulator/healthz            200 when serving
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, adminPrefix), "/")
	switch {
	case path == "counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.counters.Snapshot())
	case (path == "counters" && r.Method == http.MethodDelete) || (path == "counters/reset" && r.Method == http.MethodPost):
		s.counters.Reset()
		w.WriteHeader(http.StatusNoContent)
	case path == "faults" && r.Method == http.MethodGet:
		doc := faultsDocument{Global: s.faults.Get(""), Vaults: map[string]FaultConfig{}}
		for _, v := range s.faults.Vaults() {
			doc.Vaults[v] = s.faults.Get(v)
		}
		writeJSON(w, http.StatusOK, doc)
	case path == "faults" && r.Method == http.MethodPut:
		s.putFaults(w, r)
	case path == "faults" && r.Method == http.MethodDelete:
		if v := r.URL.Query().Get("vault"); v != "" {
			s.faults.Clear(strings.ToLower(v))
		} else {
			s.faults.Reset()
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "ca.pem" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.tls.caPEM)
	case path == "healthz":
		_, _ = io.WriteString(w, "ok\n")
	default:
		http.Error(w, "unknown admin endpoint", http.StatusNotFound)
	}
}

// putFaults sets a fault configuration from JSON of at most
// maxAdminBodyBytes, checked before it is parsed.
func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("fault configuration larger than %d bytes", maxAdminBodyBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the fault configuration: "+err.Error(), http.StatusBadRequest)
		return
	}
	var cfg FaultConfig
	if err := json.Unmarshal(body, &cfg); err != nil {
		http.Error(w, "invalid fault configuration: "+err.Error(), http.StatusBadRequest)
		return
	}
	vault := strings.ToLower(r.URL.Query().Get("vault"))
	if err := s.faults.Set(vault, cfg); err != nil {
		http.Error(w, "invalid fault configuration: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("faults set", "vault", vault, "rules", len(cfg.Rules), "throttle", cfg.Throttle != nil)
	writeJSON(w, http.StatusOK, s.faults.Get(vault))
}
