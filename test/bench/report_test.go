package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// report collects the rows of the table printed after the benchmarks, and
// notes that say how each figure was obtained.
var report results

type results struct {
	mu    sync.Mutex
	rows  []row
	notes []string
}

// row is one figure beside its target.
type row struct {
	figure, measured, target, ok string
}

func (r *results) add(figure, measured, target string, met bool) {
	ok := "yes"
	if !met {
		ok = "NO"
	}
	r.addRow(row{figure, measured, target, ok})
}

// reference adds a figure that has no target of its own but puts others in
// context.
func (r *results) reference(figure, measured string) {
	r.addRow(row{figure, measured, "(reference)", "—"})
}

func (r *results) addRow(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x)
}

func (r *results) notef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// print writes the table as Markdown, then the notes.
func (r *results) print(w io.Writer, total time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cells := [][]string{{"figure", "measured", "target", "ok?"}}
	for _, x := range r.rows {
		cells = append(cells, []string{x.figure, x.measured, x.target, x.ok})
	}
	width := make([]int, 4)
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		for i, s := range c {
			fmt.Fprintf(&b, "| %s%s ", s, strings.Repeat(" ", width[i]-len([]rune(s))))
		}
		fmt.Fprintln(w, b.String()+"|")
	}
	fmt.Fprintln(w, "\nlatchkey: figures against product.md §6 targets")
	line(cells[0])
	sep := make([]string, 4)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
	fmt.Fprintln(w)
	for _, n := range r.notes {
		fmt.Fprintln(w, "- "+n)
	}
	fmt.Fprintf(w, "- total: %s\n", total.Round(time.Second))
}
