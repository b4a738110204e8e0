/*
 * relay.h - relays of the schedule: the controller streams them.
 *
 * A schedule item with a `source` ("alsa:DEVICE": a receiver's line-out on
 * the controller; "url:http://...": a network stream) and a length becomes,
 * in each target node's plan, an item of level relay with `source` and
 * `until` (scheduler.c). The controller, not the node, turns the source
 * into audio: once a second it looks at the stored plans, and while an
 * occurrence's time has come (at <= now < until) it streams the source as a
 * live session of level relay (live.c) to <root>/node/<id>/live of every
 * node whose plan has it. So a node needs no FFmpeg, no network stream
 * client and no capture device; everything it plays is signed; and one
 * receiver serves the whole commune. A relay is the lowest level: each node
 * plays it only while nothing else is due, and resumes it afterwards.
 *
 * One relay runs at a time (the earliest due); an operator's relay started
 * by hand (`loaxa live --relay`) is left alone.
 */
#ifndef LOAXA_CTL_RELAY_H
#define LOAXA_CTL_RELAY_H

struct ctl;

void ctl_relay_tick(struct ctl *c);

#endif
