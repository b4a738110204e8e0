/*
 * loudness.c - see loudness.h.
 */
#include "loudness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* BS.1770 K-weighting at 48 kHz: high shelf, then high pass (RLB). */
static const double k1_b[3] = { 1.53512485958697, -2.69169618940638, 1.19839281085285 };
static const double k1_a[3] = { 1.0, -1.69065929318241, 0.73248077421585 };
static const double k2_b[3] = { 1.0, -2.0, 1.0 };
static const double k2_a[3] = { 1.0, -1.99004745483398, 0.99007225036621 };

#define SEGS_PER_100MS (4800 / LM_SEGMENT)
#define RELEASE_S 0.080 /* as in limiter.c */

void lmodel_init(struct lmodel *m)
{
	memset(m, 0, sizeof(*m));
}

void lmodel_free(struct lmodel *m)
{
	free(m->peak);
	free(m->energy);
	m->peak = m->energy = NULL;
	m->n = m->cap = 0;
}

static int push_segment(struct lmodel *m)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 30000; /* 60 s */
		float *p = realloc(m->peak, cap * sizeof(float));

		if (!p)
			return -ENOMEM;
		m->peak = p;
		p = realloc(m->energy, cap * sizeof(float));
		if (!p)
			return -ENOMEM;
		m->energy = p;
		m->cap = cap;
	}
	m->peak[m->n] = m->p;
	m->energy[m->n] = (float)m->e;
	m->n++;
	m->p = 0;
	m->e = 0;
	m->fill = 0;
	return 0;
}

int lmodel_add(struct lmodel *m, const float *x, size_t n)
{
	double a1 = m->s1[0], a2 = m->s1[1], b1 = m->s2[0], b2 = m->s2[1];
	size_t off, k, i;
	int rc = 0;

	for (off = 0; off < n; off += k) {
		k = n - off < TP_BLOCK ? n - off : TP_BLOCK;
		truepeak_block(&m->tp, x + off, k, m->pk);
		for (i = 0; i < k; i++) {
			double in = x[off + i], y, z;

			y = k1_b[0] * in + a1;
			a1 = k1_b[1] * in - k1_a[1] * y + a2;
			a2 = k1_b[2] * in - k1_a[2] * y;
			z = k2_b[0] * y + b1;
			b1 = k2_b[1] * y - k2_a[1] * z + b2;
			b2 = k2_b[2] * y - k2_a[2] * z;
			m->e += z * z;
			if (m->pk[i] > m->p)
				m->p = m->pk[i];
			if (++m->fill == LM_SEGMENT && (rc = push_segment(m)) < 0)
				goto out;
		}
	}
out:
	m->s1[0] = a1;
	m->s1[1] = a2;
	m->s2[0] = b1;
	m->s2[1] = b2;
	return rc;
}

void lmodel_finish(struct lmodel *m)
{
	/* a partial last segment does not make a 100 ms quarter: drop it */
	m->fill = 0;
	m->e = 0;
	m->p = 0;
}

static double lufs_of(double mean_square)
{
	return -0.691 + 10 * log10(mean_square);
}

/*
 * BS.1770 gating over 400 ms blocks every 100 ms: q[] holds the K-weighted
 * sums of squares of the nq 100 ms quarters, times g2.
 */
static double gated(const double *q, size_t nq, double g2)
{
	/* the gates as mean squares: no logarithm per block (the gain search
	 * gates the whole file a few dozen times) */
	const double abs_gate = pow(10.0, (-70 + 0.691) / 10);
	double sum1 = 0, sum2 = 0, gate;
	size_t i, n1 = 0, n2 = 0;

	for (i = 0; i + 4 <= nq; i++) {
		double e = (q[i] + q[i + 1] + q[i + 2] + q[i + 3]) * g2 / 19200.0;

		if (e > 0 && e >= abs_gate) {
			sum1 += e;
			n1++;
		}
	}
	if (n1 == 0)
		return -HUGE_VAL;
	gate = sum1 / (double)n1 / 10; /* -10 LU */
	if (gate < abs_gate)
		gate = abs_gate;
	for (i = 0; i + 4 <= nq; i++) {
		double e = (q[i] + q[i + 1] + q[i + 2] + q[i + 3]) * g2 / 19200.0;

		if (e > 0 && e >= gate) {
			sum2 += e;
			n2++;
		}
	}
	return n2 ? lufs_of(sum2 / (double)n2) : -HUGE_VAL;
}

double lmodel_loudness(const struct lmodel *m, double gain_db, double limit_db)
{
	enum { L = (LIMITER_LOOKAHEAD + LM_SEGMENT - 1) / LM_SEGMENT };
	const double G2 = pow(10.0, gain_db / 10.0);
	const double G = pow(10.0, gain_db / 20.0);
	const double c = pow(10.0, limit_db / 20.0);
	const double rel = 1.0 - exp(-(double)LM_SEGMENT / (RELEASE_S * 48000.0));
	const int limit = limit_db < 100;
	double need[L + 1], hring[L + 1], h = 1.0, hsum = L + 1;
	double *q, l;
	size_t nq = m->n / SEGS_PER_100MS, j, i;

	if (nq < 4)
		return -HUGE_VAL;
	q = calloc(nq, sizeof(*q));
	if (!q)
		return -HUGE_VAL;
	for (i = 0; i <= L; i++) {
		need[i] = 1.0;
		hring[i] = 1.0;
	}
	/* the limiter at segment resolution, L segments of look-ahead */
	for (j = 0; j < m->n + L; j++) {
		double nd = 1.0, win = 1.0, g;
		size_t seg;

		if (limit && j < m->n && G * m->peak[j] > c)
			nd = c / (G * m->peak[j]);
		need[j % (L + 1)] = nd;
		for (i = 0; i <= L; i++)
			if (need[i] < win)
				win = need[i];
		h = h + (1.0 - h) * rel;
		if (win < h)
			h = win;
		hsum += h - hring[j % (L + 1)];
		hring[j % (L + 1)] = h;
		if (j < L)
			continue;
		seg = j - L;
		if (seg / SEGS_PER_100MS >= nq)
			continue;
		g = limit ? hsum / (L + 1) : 1.0;
		if (g > 1.0)
			g = 1.0;
		q[seg / SEGS_PER_100MS] += g * g * (double)m->energy[seg];
	}
	l = gated(q, nq, G2);
	free(q);
	return l;
}

double lmodel_solve_gain(const struct lmodel *m, double input_lufs, double target_lufs,
			 double limit_db, double max_extra_db)
{
	double g0 = target_lufs - input_lufs, base, offset, lo, hi;

	base = lmodel_loudness(m, 0, 1000);
	if (!isfinite(base) || !isfinite(input_lufs))
		return isfinite(input_lufs) ? g0 : 0;
	/* the model's own bias against libebur128 (segment edges, float sums) */
	offset = input_lufs - base;
	if (lmodel_loudness(m, g0, limit_db) + offset >= target_lufs - 0.02)
		return g0;
	lo = g0;
	hi = g0 + max_extra_db;
	if (lmodel_loudness(m, hi, limit_db) + offset < target_lufs)
		return hi;
	while (hi - lo > 0.01) {
		double mid = (lo + hi) / 2;

		if (lmodel_loudness(m, mid, limit_db) + offset < target_lufs)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

void kmeter_init(struct kmeter *k)
{
	memset(k, 0, sizeof(*k));
}

void kmeter_free(struct kmeter *k)
{
	free(k->q);
	memset(k, 0, sizeof(*k));
}

int kmeter_add(struct kmeter *k, const float *x, size_t n)
{
	double a1 = k->s1[0], a2 = k->s1[1], b1 = k->s2[0], b2 = k->s2[1], e = k->e;
	size_t i, fill = k->fill;
	int rc = 0;

	for (i = 0; i < n; i++) {
		double in = x[i], y, z;

		y = k1_b[0] * in + a1;
		a1 = k1_b[1] * in - k1_a[1] * y + a2;
		a2 = k1_b[2] * in - k1_a[2] * y;
		z = k2_b[0] * y + b1;
		b1 = k2_b[1] * y - k2_a[1] * z + b2;
		b2 = k2_b[2] * y - k2_a[2] * z;
		e += z * z;
		if (++fill == 4800) {
			if (k->n == k->cap) {
				size_t cap = k->cap ? k->cap * 2 : 6000; /* 10 min */
				double *q = realloc(k->q, cap * sizeof(double));

				if (!q) {
					rc = -ENOMEM;
					break;
				}
				k->q = q;
				k->cap = cap;
			}
			k->q[k->n++] = e;
			e = 0;
			fill = 0;
		}
	}
	k->s1[0] = a1;
	k->s1[1] = a2;
	k->s2[0] = b1;
	k->s2[1] = b2;
	k->e = e;
	k->fill = fill;
	return rc;
}

double kmeter_loudness(const struct kmeter *k)
{
	return gated(k->q, k->n, 1.0);
}
