package akvemu

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
)

// pageRequest is what a list request asks for.
type pageRequest struct {
	// after is the sort key of the last item of the previous page ("" = first page).
	after string
	// size is the page size (maxresults).
	size int
}

// parsePageRequest reads maxresults and $skiptoken. Key Vault accepts
// maxresults 1..25; the skip token is opaque to clients (here: base64url of
// the last sort key served).
func parsePageRequest(q url.Values, defaultSize int) (pageRequest, *kvError) {
	p := pageRequest{size: defaultSize}
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > MaxPageSize {
			return p, errBadParameter("The value of maxresults must be between 1 and %d; got %q.", MaxPageSize, m)
		}
		p.size = n
	}
	if t := q.Get("$skiptoken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) == 0 {
			return p, errBadParameter("The skip token %q is not valid.", t)
		}
		p.after = string(b)
	}
	return p, nil
}

// paginate picks the page of sorted keys after p.after. It returns the index
// range and, when more items remain, the skip token of the next page.
func paginate(keys []string, p pageRequest) (from, to int, next string) {
	from = 0
	if p.after != "" {
		from = sort.SearchStrings(keys, p.after)
		if from < len(keys) && keys[from] == p.after {
			from++
		}
	}
	to = min(from+p.size, len(keys))
	if to < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[to-1]))
	}
	return from, to, next
}

// nextLink is the absolute URL of the next page on the vault's own host, as
// Key Vault writes it.
func nextLink(base, path, apiVersion, token string, size int) string {
	if token == "" {
		return ""
	}
	// Written by hand to keep Key Vault's literal "$skiptoken"; the token is
	// base64url, which needs no escaping.
	link := base + path + "?"
	if apiVersion != "" {
		link += "api-version=" + url.QueryEscape(apiVersion) + "&"
	}
	return link + "$skiptoken=" + token + "&maxresults=" + strconv.Itoa(size)
}

// indexKey makes a sort key from a position, for lists ordered by creation.
func indexKey(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 10 {
		s = "0" + s
	}
	return s
}
