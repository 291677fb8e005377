// Context-degradation statistics of a score measured at several context lengths
// (the study's context-degradation tables): least-squares slope per 1K tokens,
// R^2, the slope's significance and the cliff point.
#pragma once
#include <utility>
#include <vector>

namespace edgerag {

struct Degradation {
  int n = 0;                   // points fitted
  double slope_per_1k = 0, intercept = 0, r2 = 0;
  double t = 0, p_value = 1;   // slope != 0: two-sided Student t test, n - 2 degrees of freedom (n >= 3)
  int cliff_tokens = 0;        // first length scoring below half the shortest length's score; 0 = none
};

// points: (context tokens, score), any order; lengths <= 0 are ignored.
Degradation context_degradation(std::vector<std::pair<int, double>> points);

// P(|T| >= |t|) for Student's t with df degrees of freedom (regularized incomplete beta).
double student_t_two_sided_p(double t, double df);

}  // namespace edgerag
