//go:build test_performance

// GrowthRS's add-on to Karpenter's scheduling benchmark, copied next to
// scheduling_benchmark_test.go in a build-time copy of the Karpenter module
// (bench/karpenter_scheduling.py does this; nothing of Karpenter is kept in the
// GrowthRS repository). It runs the same input as BenchmarkScheduling<N>
// (makeDiversePods(N), 400 fake instance types) through the same
// setupScheduler and Solve, once per iteration, and also prices the claims of
// the first Solve: each claim at the cheapest offering of any instance type it
// could still launch as (what Karpenter's launch picks).

package scheduling_test

import (
	"context"
	"math"
	"testing"
	"time"

	"sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/operator/injection"
	"sigs.k8s.io/karpenter/pkg/operator/options"
	"sigs.k8s.io/karpenter/pkg/test"
)

func BenchmarkGrowthrsPriced1000(b *testing.B)  { benchmarkPriced(b, 1000) }
func BenchmarkGrowthrsPriced5000(b *testing.B)  { benchmarkPriced(b, 5000) }
func BenchmarkGrowthrsPriced10000(b *testing.B) { benchmarkPriced(b, 10000) }
func BenchmarkGrowthrsPriced20000(b *testing.B) { benchmarkPriced(b, 20000) }

func cheapestClaimPrice(n *scheduling.NodeClaim) float64 {
	best := math.Inf(1)
	for _, it := range n.InstanceTypeOptions {
		if of := it.Offerings.Available().Compatible(n.Requirements).Cheapest(); of != nil && of.Price < best {
			best = of.Price
		}
	}
	return best
}

func benchmarkPriced(b *testing.B, count int) {
	pods := makeDiversePods(count)
	ctx = options.ToContext(injection.WithControllerName(context.Background(), "provisioner"), test.Options())
	scheduler, err := setupScheduler(ctx, pods, scheduling.NumConcurrentReconciles(5))
	if err != nil {
		b.Fatalf("creating scheduler, %s", err)
	}
	b.ResetTimer()
	var solving time.Duration
	claims, price, unpriced := 0, 0.0, 0
	for i := 0; i < b.N; i++ {
		start := time.Now()
		results, err := scheduler.Solve(ctx, pods)
		solving += time.Since(start)
		if err != nil {
			b.Fatalf("expected scheduler to schedule all pods without error, got %s", err)
		}
		if len(results.PodErrors) > 0 {
			b.Fatalf("expected all pods to schedule, got %d pods that didn't", len(results.PodErrors))
		}
		if i == 0 {
			b.StopTimer()
			claims = len(results.NewNodeClaims)
			for _, n := range results.NewNodeClaims {
				if p := cheapestClaimPrice(n); math.IsInf(p, 1) {
					unpriced++
				} else {
					price += p
				}
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(len(pods))/(solving.Seconds()/float64(b.N)), "pods/sec")
	b.ReportMetric(float64(claims), "nodes")
	b.ReportMetric(price, "price/h")
	b.ReportMetric(float64(unpriced), "unpriced")
}
