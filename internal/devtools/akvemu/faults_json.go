package akvemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// faultRuleJSON is FaultRule on the wire: durations as Go duration strings ("150ms").
type faultRuleJSON struct {
	Operation  string  `json:"operation,omitempty"`
	Latency    string  `json:"latency,omitempty"`
	Status     int     `json:"status,omitempty"`
	RetryAfter string  `json:"retryAfter,omitempty"`
	Drop       bool    `json:"drop,omitempty"`
	Fraction   float64 `json:"fraction,omitempty"`
	Count      int     `json:"count,omitempty"`
}

// MarshalJSON writes durations as strings such as "150ms".
func (r FaultRule) MarshalJSON() ([]byte, error) {
	w := faultRuleJSON{Operation: r.Operation, Status: r.Status, Drop: r.Drop, Fraction: r.Fraction, Count: r.Count}
	if r.Latency != 0 {
		w.Latency = r.Latency.String()
	}
	if r.RetryAfter != 0 {
		w.RetryAfter = r.RetryAfter.String()
	}
	return json.Marshal(w)
}

// strictUnmarshal is json.Unmarshal refusing unknown fields (a custom
// UnmarshalJSON does not inherit the caller's decoder settings).
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// UnmarshalJSON reads durations written as strings such as "150ms" or "2s".
func (r *FaultRule) UnmarshalJSON(b []byte) error {
	var w faultRuleJSON
	if err := strictUnmarshal(b, &w); err != nil {
		return fmt.Errorf("fault rule: %w", err)
	}
	out := FaultRule{Operation: w.Operation, Status: w.Status, Drop: w.Drop, Fraction: w.Fraction, Count: w.Count}
	var err error
	if w.Latency != "" {
		if out.Latency, err = time.ParseDuration(w.Latency); err != nil {
			return fmt.Errorf("fault rule latency: %w", err)
		}
	}
	if w.RetryAfter != "" {
		if out.RetryAfter, err = time.ParseDuration(w.RetryAfter); err != nil {
			return fmt.Errorf("fault rule retryAfter: %w", err)
		}
	}
	*r = out
	return nil
}

// faultConfigJSON gives FaultConfig and Throttle lower-case JSON names.
type faultConfigJSON struct {
	Rules    []FaultRule   `json:"rules,omitempty"`
	Throttle *throttleJSON `json:"throttle,omitempty"`
}

type throttleJSON struct {
	Rate      float64 `json:"rate"`
	Burst     int     `json:"burst"`
	Operation string  `json:"operation,omitempty"`
}

// MarshalJSON writes {"rules":[…],"throttle":{"rate":…,"burst":…}}.
func (c FaultConfig) MarshalJSON() ([]byte, error) {
	w := faultConfigJSON{Rules: c.Rules}
	if c.Throttle != nil {
		w.Throttle = &throttleJSON{Rate: c.Throttle.Rate, Burst: c.Throttle.Burst, Operation: c.Throttle.Operation}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the shape MarshalJSON writes.
func (c *FaultConfig) UnmarshalJSON(b []byte) error {
	var w faultConfigJSON
	if err := strictUnmarshal(b, &w); err != nil {
		return fmt.Errorf("fault config: %w", err)
	}
	*c = FaultConfig{Rules: w.Rules}
	if w.Throttle != nil {
		c.Throttle = &Throttle{Rate: w.Throttle.Rate, Burst: w.Throttle.Burst, Operation: w.Throttle.Operation}
	}
	return nil
}
