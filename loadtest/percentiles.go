package loadtest

import (
	"math"
	"slices"
)

// Percentiles summarise a distribution by nearest rank: the smallest
// value at or above which the given share of the values lie.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// TailPercentiles are the median and the 99th percentile: the shape of a
// distribution whose middle and worst case are what matter.
type TailPercentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// PercentilesOf computes the nearest-rank percentiles of values, ignoring
// NaNs. Empty input gives zeros. values is not modified.
func PercentilesOf(values []float64) Percentiles {
	sorted := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			sorted = append(sorted, v)
		}
	}
	if len(sorted) == 0 {
		return Percentiles{}
	}
	slices.Sort(sorted)
	return Percentiles{
		P50: nearestRank(sorted, 50),
		P95: nearestRank(sorted, 95),
		P99: nearestRank(sorted, 99),
		Max: sorted[len(sorted)-1],
	}
}

// Tail keeps the median and the 99th percentile.
func (p Percentiles) Tail() TailPercentiles { return TailPercentiles{P50: p.P50, P99: p.P99} }

// nearestRank is the value at rank ceil(pct/100 × n) of sorted, in integer
// arithmetic: in floating point 0.95 × 20 is a hair over 19, and would
// round up to the wrong rank.
func nearestRank(sorted []float64, pct int) float64 {
	rank := (pct*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}
