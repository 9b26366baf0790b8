"""The values chapter 3's studies quote (the sections after the answers), formatted (``study.prose.Prose``): one
findings object, ``studies``, read from the chapter's results and findings (``chapter.Chapter``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..study import runs
from ..study.data import TRAIN_SIZE
from ..study.prose import Prose
from . import comparison, formatting, mcmc_reading, tempering_reading, tiny_mcmc
from .setting import MIDDLE_INDEX, STROKE

if TYPE_CHECKING:
    from .explorer import Explored


def studies(ch) -> Prose:
    """Every value the studies of chapter 3 quote, by name, from the chapter's results (``chapter.read()``; not
    imported here, which would stack the whole chapter under this module)."""
    r3, rr, conv, tiny, cf = ch.r3, ch.rr, ch.conv, ch.tiny, ch.chain_findings
    chains_d, chains_g, blk = ch.chains["d"], ch.chains["g"], ch.blocks
    truth, mc = cf.truth, chains_d.inputs
    tb, tt, bb = tiny_mcmc.TINY_BLOCKS, tiny_mcmc.TINY_TEMPERING, blk["d"].inputs
    mv = {q: t.set_index("move") for q, t in cf.moves.items()}
    falls, n_images = cf.falls()
    tempered, t_rhat = ch.tempered, ch.tempering_rhat
    td, tg, t_log2_p = tempered["d"], tempered["g"], ch.scores.tempering["d"]
    first, last = (tempering_reading.kind_means(tempered, "acceptance", step) for step in (0, -1))
    study = ch.particles_study
    counts, rise = sorted(study["found"]), tempering_reading.evidence_rise(study["found"])
    d_est, rb, df, pools, gf = ch.d_estimators, ch.rb, ch.d, ch.pools, ch.g
    tv_e = df.tv_to_e()
    spread = {
        name: df.spread(name)
        for name in ("IS, prior prefixes", "IS, reverse proposals", "IS, reverse proposals, Rao-Blackwellised")
    }
    edge_black, stroke_bright = df.black_on_edge(), df.least_bright_on_stroke()
    climbs, rev_ink, rev_lp = cf.near_empty_climbs(), cf.block_ink["g"][:, 1], cf.block_log2_p["g"][:, 1]
    gap_rev, below = gf.gap("SIR, reverse, own pools", "log2 p"), -gf.gap("reverse model alone", "log2 p")
    reverse, q1, q1_first = runs.trained("reverse"), runs.trained("q1"), runs.trained("q1-first")
    course = runs.evaluation("pretrained")
    true, fb, m = r3.images.flatten(1)[:, MIDDLE_INDEX], rr.forward_bpd, MIDDLE_INDEX
    return Prose(
        first_later_prefixes=f"{r3.inputs['budget']['later_prefixes']}",
        first_d_ess=", ".join(f"{e:.1f}" for e in r3.d_ess.tolist()),
        first_top_proposals=f"{r3.inputs['budget']['top_proposals']}",
        first_g_ess=", ".join(f"{e:.1f}" for e in r3.g_ess.tolist()),
        heldout_images=f"{len(ch.heldout.true)}",
        reverse_batch=f"{runs.config('reverse').batch_size}",
        reverse_lr=f"{runs.config('reverse').lr:g}",
        reverse_epochs=f"{reverse.metrics['train_images'] / TRAIN_SIZE:.0f}",
        reverse_bpd=f"{reverse.metrics['test_bpd']:.3f}",
        course_bpd=f"{course['test_bpd']:.3f}",
        q1_bpd=f"{q1.metrics['test_bpd']:.3f}",
        q1_epochs=f"{q1.metrics['train_images'] / TRAIN_SIZE:.0f}",
        q1_first_bpd=f"{q1_first.metrics['test_bpd']:.3f}",
        q1_first_epochs=f"{q1_first.metrics['train_images'] / TRAIN_SIZE:.0f}",
        reverse_proposals=f"{rr.inputs['proposals']}",
        largest_ess=f"{comparison.largest_ess(r3, rr):.1f}",
        black_middles=f"{int((true == 0).sum())}",
        conditioning_images=f"{len(true)}",
        g_bpd_prior=f"{fb['g']:.3f}",
        g_bpd_reverse_is=f"{fb['g_reverse_is']:.3f}",
        g_bpd_original=f"{fb['original']:.3f}",
        chains_per_start=f"{mc['chains_per_start']}",
        sweeps=f"{mc['sweeps']}",
        burn_in=f"{mcmc_reading.burn_in()}",
        chunk=f"{mc['chunk']}",
        tiny_reverse_kl=f"{tiny.reverse_kl_bits:.2f}",
        tiny_acceptance_low=f"{tiny.acceptance_g.min():.2f}",
        tiny_acceptance_high=f"{tiny.acceptance_g.max():.2f}",
        tiny_rows=f"{tb['size'][0]}",
        tiny_cols=f"{tb['size'][1]}",
        tiny_levels=f"{tb['levels']}",
        tiny_sharpness=f"{tb['sharpness']:.0f}",
        tiny_chains=f"{tb['chains']}",
        tiny_single_above=f"{tb['single_site_above']}",
        tiny_single_sweeps=f"{tb['single_sweeps']}",
        tiny_blocks_within=f"{tb['blocks_within']}",
        tiny_block_sweeps=f"{tb['sweeps']}",
        tiny_block_passes_d=f"{tiny_mcmc.tiny_block_passes('d')}",
        tiny_block_passes_g=f"{tiny_mcmc.tiny_block_passes('g')}",
        tiny_particles=f"{tt['particles']:,}",
        tiny_tempering_within=f"{tt['within']}",
        tiny_tempering_seeds=f"{len(tt['seeds'])}",
        tiny_evidence_within=f"{tt['evidence_within_nats']}",
        block_sites=f"{bb['sites']}",
        block_sweeps=f"{bb['sweeps']}",
        single_acceptance_low=f"{min(cf.single_acceptance.values()):.2f}",
        single_changed_d=f"{100 * cf.single_changed['d']:.1f}",
        single_changed_g=f"{100 * cf.single_changed['g']:.1f}",
        rows_acceptance=f"{mv['d'].loc['forward rows', 'acceptance']:.2f}",
        rows_changed=f"{100 * mv['d'].loc['forward rows', 'fraction changed']:.1f}",
        reverse_acceptance=f"{mv['d'].loc['reverse prefix', 'acceptance']:.3f}",
        chains_per_image=f"{3 * mc['chains_per_start']}",
        rhat_threshold=f"{mcmc_reading.THRESHOLD}",
        single_rhat_d=" / ".join(f"{v:.1f}" for v in cf.single_rhat["d"].tolist()),
        single_rhat_g=" / ".join(f"{v:.1f}" for v in cf.single_rhat["g"].tolist()),
        block_rhat_d=" / ".join(f"{v:.1f}" for v in cf.block_rhat["d"].tolist()),
        block_rhat_g=" / ".join(f"{v:.1f}" for v in cf.block_rhat["g"].tolist()),
        lowest_rhat=f"{cf.lowest_rhat():.1f}",
        rhat_falls=f"{falls}",
        rhat_images=f"{n_images}",
        test_moved_low=f"{cf.test_start_moved[0]}",
        test_moved_high=f"{cf.test_start_moved[1]}",
        unknown_d=f"{cf.unknown['d']}",
        test_above_low=f"{cf.test_start_above[0]}",
        test_above_high=f"{cf.test_start_above[1]}",
        tempering_seeds=f"{len(td.seeds)}",
        tempering_particles=f"{td.particles}",
        tempering_sweeps=f"{td.sweeps}",
        tempering_sites=f"{td.sites}",
        d_steps=formatting.range_text(td.steps),
        d_minutes=f"{float(td.seconds.mean()) / 60:.0f}",
        g_steps=formatting.range_text(tg.steps),
        g_minutes=formatting.range_text(tg.seconds / 60, ".0f"),
        forward_acceptance_first=f"{first['forward prefix']:.2f}",
        forward_acceptance_last=f"{last['forward prefix']:.3f}",
        d_runs_tv=" / ".join(f"{v:.0e}" if v < 0.01 else f"{v:.2f}" for v in td.seed_tv().tolist()),
        d_runs_w1=" / ".join(f"{v:.2f}" for v in td.seed_w1().tolist()),
        d_runs_log2_p=" / ".join(f"{a:.0f} and {b:.0f}" for a, b in t_log2_p.mean(2).T.tolist()),
        d_runs_rhat=" / ".join(f"{v:.2f}" for v in t_rhat["d"].tolist()),
        g_runs_rhat=" / ".join(f"{v:.2f}" for v in t_rhat["g"].tolist()),
        d_evidence_gap=formatting.range_text(td.evidence_gap(), ".1f"),
        g_evidence_gap=formatting.range_text(tg.evidence_gap(), ".1f"),
        fewer_particles=", ".join(str(n) for n in counts[:-2]),
        most_fewer_particles=f"{counts[-2]}",
        evidence_rise=" / ".join(f"{v:.1f}" for v in rise.tolist()),
        minutes_by_particles=" / ".join(f"{float(study['found'][n].seconds.mean()) / 60:.0f}" for n in counts),
        particle_counts=" / ".join(str(n) for n in counts),
        d_images=", ".join(f"#{i}" for i in chains_d.indices),
        d_seeds=f"{len(d_est.inputs['seeds'])}",
        test_start_to_e_black=f"{tv_e[0]:.0e}",
        test_start_to_e_stroke=f"{tv_e[1]:.2f}",
        test_start_to_e_edge=f"{tv_e[2]:.2f}",
        plain_reverse_one_hot=f"{df.estimates['IS, reverse proposals'].max(-1).values.min():.2f}",
        rb_dropped_budget=f"{rb.inputs['dropped']:.0e}",
        rb_kept_low=f"{int(df.kept.min())}",
        rb_kept_high=f"{int(df.kept.max())}",
        reverse_proposals_d=f"{d_est.inputs['proposals']}",
        rb_dropped=f"{df.dropped:.1e}",
        rb_minutes=f"{rb.seconds['full_conditionals'] / 60:.0f}",
        rb_cases=f"{len(d_est.inputs['seeds']) * len(chains_d.indices)}",
        reverse_spread_black=f"{spread['IS, reverse proposals'][0]:.0e}",
        reverse_spread_edge=f"{spread['IS, reverse proposals'][2]:.0e}",
        reverse_spread_stroke=f"{spread['IS, reverse proposals'][1]:.2f}",
        rb_spread=f"{spread['IS, reverse proposals, Rao-Blackwellised'].max():.2f}",
        prior_spread=" / ".join(f"{v:.2f}" for v in spread["IS, prior prefixes"].tolist()),
        adaptive_tv_black=f"{td.seed_tv()[0]:.0e}",
        adaptive_tv_stroke=f"{td.seed_tv()[1]:.2f}",
        adaptive_tv_edge=f"{td.seed_tv()[2]:.2f}",
        stroke_bright=f"{100 * stroke_bright:.1f}",
        edge_black_high=f"{max(edge_black.values()):.3f}",
        edge_black_low=f"{min(edge_black.values()):.3f}",
        later_prefixes=f"{d_est.inputs['later_prefixes']}",
        equal_n=f"{rb.inputs['equal_n']}",
        pool_proposals=f"{pools.inputs['proposals']}",
        climbs=f"{len(climbs)}",
        climbs_log2_p=", ".join(f"#{chains_g.indices[k]}: {rev_lp[k]:.0f} against {truth['g'][k]:.0f}" for k in climbs),
        climbs_ink=", ".join(f"{rev_ink[k]:.3f} against {cf.test_ink[k]:.3f}" for k in climbs),
        reverse_log2_p_gap_low=f"{gap_rev.min():.0f}",
        reverse_log2_p_gap_high=f"{gap_rev.max():.0f}",
        g_proposals=f"{gf.proposals}",
        prior_wins=f"{gf.prior_wins()}",
        tempering_ink_spread=f"{gf.tempering_spread('ink').max():.2f}",
        tempering_log2_p_spread=f"{gf.tempering_spread('log2 p').max():.0f}",
        g_particles=f"{gf.particles}",
        reverse_alone_below=f"{below.min():.0f}",
        fewest_particles=f"{counts[0]}",
        most_particles=f"{counts[-1]}",
        d_evidence_gap_bits=formatting.range_text(td.evidence_gap(), ".0f"),
        g_evidence_gap_bits=formatting.range_text(tg.evidence_gap(), ".0f"),
        check_reverse_kl=f"{conv.reverse_kl_bits:.1e}",
        middle_index=f"{m}",
    )


def explore(ex: Explored) -> Prose:
    """The explorer's values: its images, their kinds of middle pixel, its methods' budgets, its time."""
    b = ex.inputs["budget"]
    return Prose(images=str(len(ex.images)), per_kind=str(ex.per_kind), stroke=str(STROKE),
                 reverse_proposals=str(b["reverse_proposals"]), completions=str(b["completions"]),
                 pool=f"{b['top_proposals']:,}", minutes=f"{ex.minutes:.0f}")
