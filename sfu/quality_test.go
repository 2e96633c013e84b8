package sfu

import "testing"

func TestQualityLevel(t *testing.T) {
	for _, tc := range []struct {
		name             string
		upLoss, downLoss float64
		paused, short    int
		want             int
	}{
		{"clean", 0, 0, 0, 0, QualityGood},
		{"1% up", 0.01, 0, 0, 0, QualityGood},
		{"3% down", 0, 0.03, 0, 0, QualityFair},
		{"7% up, 1% down", 0.07, 0.01, 0, 0, QualityPoor},
		{"12% down", 0, 0.12, 0, 0, QualityBad},
		{"clean, a layer below the wanted one", 0, 0, 0, 1, QualityFair},
		{"clean, video paused", 0, 0, 1, 1, QualityPoor},
		{"12% loss and paused", 0.12, 0, 1, 0, QualityBad},
	} {
		if got := qualityLevel(tc.upLoss, tc.downLoss, tc.paused, tc.short); got != tc.want {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.want)
		}
	}
}
