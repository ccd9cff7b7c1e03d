package v2beta1

import "time"

// MinRefreshInterval is the shortest spec.refreshInterval: the CRD refuses
// a shorter one (a CEL rule on the field), and the controller and the
// resolver raise one stored before the rule to it (EffectiveRefreshInterval).
//
// Every read of Key Vault costs from a budget the whole vault shares (about
// 4,000 reads per 10 s, whoever reads), so without a floor one object with
// refreshInterval 1ms would spend it for every namespace reading that vault.
// 30 s is akv2k8s's cadence (its chart's azureKeyVaultResyncPeriod, which
// read each object two to four times per pass), the fastest refresh users
// of the product it replaces knew: at the floor, an object still costs
// fewer reads than it did there. It bounds the per-object spending by
// namespace users; the admin's own interval (--refresh-interval) is not
// bound by it.
const MinRefreshInterval = 30 * time.Second

// EffectiveRefreshInterval is how often the object is read again:
// spec.refreshInterval when set (positive), else def. A spec interval below
// MinRefreshInterval (stored before the CRD refused it) is raised to the
// minimum, and raised says so. The controller and the resolver both ask it.
func (s *AzureKeyVaultSecretSpec) EffectiveRefreshInterval(def time.Duration) (d time.Duration, raised bool) {
	var ri time.Duration
	if s.RefreshInterval != nil {
		ri = s.RefreshInterval.Duration
	}
	switch {
	case ri <= 0:
		return def, false
	case ri < MinRefreshInterval:
		return MinRefreshInterval, true
	default:
		return ri, false
	}
}
