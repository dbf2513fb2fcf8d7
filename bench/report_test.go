package main

import "testing"

func TestJudged(t *testing.T) {
	atLeast := func(x float64) bool { return x >= 0.97 }
	atMost := func(x float64) bool { return x <= 2 }
	for _, tc := range []struct {
		v    float64
		prec int
		met  func(float64) bool
		want string
	}{
		{0.9641, 3, atLeast, "0.964"},
		{0.97, 3, atLeast, "0.970"},
		{0.96996, 3, atLeast, "0.96996"},
		{0.9699, 3, atLeast, "0.9699"},
		{1.96, 2, atMost, "1.96"},
		{2.004, 2, atMost, "2.004"},
		{2.0, 2, atMost, "2.00"},
	} {
		if got := judged(tc.v, tc.prec, tc.met); got != tc.want {
			t.Errorf("judged(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}
