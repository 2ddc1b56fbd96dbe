/* kaigi-nack-requester.c — what an SFU puts where a jitterbuffer would be
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * rtpbin puts an rtpjitterbuffer behind every incoming SSRC. A jitterbuffer
 * is right for a receiver that plays the stream: it reorders, waits up to
 * its latency for missing packets and paces its output with a thread of
 * its own and a timer thread. A forwarding server plays nothing. It should
 * pass every packet on the moment it arrives, in whatever order, ask the
 * sender again for what is missing (RFC 4585 §6.2.1 Generic NACK) and let
 * each subscriber's own jitterbuffer do the waiting — which is what SFUs
 * built on libwebrtc's NackRequester do. Holding packets at the server only
 * adds its wait to the subscriber's, and two threads per track.
 *
 * This element takes the jitterbuffer's place through rtpbin's
 * `request-jitterbuffer` signal and keeps the parts of its interface that
 * rtpbin and webrtcbin use:
 *
 * - no thread and no queue: the chain function pushes the packet
 *   downstream before it returns; duplicates (a retransmission of a packet
 *   that came after all) and packets older than the last 1024 are dropped;
 * - a gap in the sequence numbers sends one GstRTPRetransmissionRequest
 *   event upstream per missing packet at once (rtpsession turns them into
 *   NACKs, rtprtxreceive recognises the RTX answers, RFC 4588), repeated
 *   every %RETRY_INTERVAL while packets keep arriving, for up to the larger
 *   of `latency` and %MIN_RETRY_PERIOD;
 * - PTS as a slave-mode jitterbuffer gives them: the RTP timestamp mapped
 *   onto the arrival times, following the least-delayed packets (so
 *   network jitter is not passed on and the sender's clock drift is), plus
 *   `ts-offset`. All packets of a video frame get the same time. The
 *   server's sender reports to subscribers are made from these;
 * - DTS: the arrival time plus `ts-offset`, for a jitterbuffer downstream
 *   (the recording's) to do its own skew estimation on, as rtpbin's would
 *   have, with the lip-sync offset in. (Fed the mapped times instead, the
 *   recording's jitterbuffer took the mapping's early edge for granted: on
 *   a slow machine a participant's frames then came later than their
 *   times by more than the mixer waits, and their tile went blank.);
 * - lip sync: a sender report on the `sink_rtcp` pad is handed to rtpbin
 *   with the `handle-sync` signal and the same mapping, and rtpbin answers
 *   with `ts-offset`, as it does for a jitterbuffer;
 * - `request-pt-map` for the clock rate of a payload type, `stats` with the
 *   counters webrtcbin's getStats() reads.
 *
 * It adds no latency, so it answers latency queries with what is upstream.
 */

#include "kaigi-nack-requester.h"

#include <gst/rtp/rtp.h>

GST_DEBUG_CATEGORY_STATIC (kaigi_nack_debug);
#define GST_CAT_DEFAULT kaigi_nack_debug

/* How many recent sequence numbers are remembered, to drop duplicates */
#define WINDOW KAIGI_NACK_REQUESTER_WINDOW

/* A jump further ahead than this is a restarted sequence, not a loss */
#define MAX_DROPOUT 3000

/* Missing packets being asked for at most; beyond this they count as lost */
#define MAX_MISSING 256

/* Packets from before the window in a row that restart the sequence */
#define MAX_TOO_OLD 50

/* A missing packet is asked for again after this long (ns) */
#define RETRY_INTERVAL (40 * GST_MSECOND)

/* … and at least for this long (ns) after it went missing */
#define MIN_RETRY_PERIOD (200 * GST_MSECOND)

/* The least-delayed packet of each such span (ns) sets the time mapping */
#define SKEW_WINDOW (2 * GST_SECOND)

/* A packet this far (ns) off the mapping starts a new one */
#define RESYNC_THRESHOLD GST_SECOND

#define DEFAULT_LATENCY_MS 200
#define DEFAULT_MAX_RTCP_RTP_TIME_DIFF 1000

typedef struct
{
  guint64 seq;                  /* extended */
  GstClockTime missing_since;
  GstClockTime requested;
  guint retries;
} Missing;

struct _KaigiNackRequester
{
  GstElement parent_instance;

  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *rtcp_sinkpad;

  /* Everything below is under the object lock */

  guint latency_ms;
  gboolean do_retransmission;
  gint64 ts_offset;
  gint max_rtcp_rtp_time_diff;

  gint pt_clock_rate[128];      /* 0: not asked yet, -1: unknown */
  gint clock_rate;              /* of the last packet, -1 before one */
  guint32 ssrc;

  gboolean have_seq;
  guint64 max_seq;              /* extended highest sequence number */
  guint64 received[WINDOW / 64];
  GArray *missing;              /* Missing, oldest first */
  guint too_old;

  guint64 last_rtptime;         /* extended, G_MAXUINT64 before a packet */
  guint64 base_rtptime;
  GstClockTime base_time;       /* GST_CLOCK_TIME_NONE before a packet */
  GstClockTimeDiff skew;
  GstClockTimeDiff window_min;
  GstClockTime window_start;

  guint64 num_pushed;
  guint64 num_lost;
  guint64 num_late;
  guint64 num_duplicates;
  guint64 rtx_count;
  guint64 rtx_success_count;
};

G_DEFINE_FINAL_TYPE (KaigiNackRequester, kaigi_nack_requester, GST_TYPE_ELEMENT)

enum {
  PROP_0,
  PROP_LATENCY,
  PROP_DO_RETRANSMISSION,
  PROP_TS_OFFSET,
  PROP_MAX_RTCP_RTP_TIME_DIFF,
  PROP_STATS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_REQUEST_PT_MAP,
  SIGNAL_HANDLE_SYNC,
  SIGNAL_CLEAR_PT_MAP,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static GstStaticPadTemplate sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS ("application/x-rtp"));
static GstStaticPadTemplate rtcp_sink_template =
  GST_STATIC_PAD_TEMPLATE ("sink_rtcp", GST_PAD_SINK, GST_PAD_REQUEST,
                           GST_STATIC_CAPS ("application/x-rtcp"));
static GstStaticPadTemplate src_template =
  GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                           GST_STATIC_CAPS ("application/x-rtp"));

/* Called with the object lock */
static void
reset_sequence (KaigiNackRequester *self)
{
  self->have_seq = FALSE;
  self->too_old = 0;
  memset (self->received, 0, sizeof self->received);
  g_array_set_size (self->missing, 0);
}

/* Called with the object lock */
static void
reset_timing (KaigiNackRequester *self)
{
  self->last_rtptime = G_MAXUINT64;
  self->base_time = GST_CLOCK_TIME_NONE;
  self->skew = 0;
  self->window_min = G_MAXINT64;
  self->window_start = GST_CLOCK_TIME_NONE;
}

static void
reset (KaigiNackRequester *self)
{
  GST_OBJECT_LOCK (self);
  reset_sequence (self);
  reset_timing (self);
  self->clock_rate = -1;
  GST_OBJECT_UNLOCK (self);
}

static gboolean
was_received (KaigiNackRequester *self,
              guint64             seq)
{
  return (self->received[(seq % WINDOW) / 64] >> (seq % 64)) & 1;
}

static void
set_received (KaigiNackRequester *self,
              guint64             seq,
              gboolean            received)
{
  guint64 bit = G_GUINT64_CONSTANT (1) << (seq % 64);

  if (received)
    self->received[(seq % WINDOW) / 64] |= bit;
  else
    self->received[(seq % WINDOW) / 64] &= ~bit;
}

/* Called with the object lock */
static GstClockTime
retry_period (KaigiNackRequester *self)
{
  return MAX (self->latency_ms * GST_MSECOND, MIN_RETRY_PERIOD);
}

static GstEvent *
make_request (KaigiNackRequester *self,
              const Missing      *missing,
              GstClockTime        now)
{
  GstClockTime period = retry_period (self);
  GstClockTime delay = now - missing->missing_since;

  /* The fields rtpjitterbuffer sends; rtpsession reads seqnum, ssrc,
   * delay, deadline and avg-rtt (ms) */
  return gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
                               gst_structure_new ("GstRTPRetransmissionRequest",
                                                  "seqnum", G_TYPE_UINT, (guint) (missing->seq & 0xffff),
                                                  "ssrc", G_TYPE_UINT, self->ssrc,
                                                  "running-time", G_TYPE_UINT64, missing->missing_since,
                                                  "delay", G_TYPE_UINT, (guint) GST_TIME_AS_MSECONDS (delay),
                                                  "retry", G_TYPE_UINT, missing->retries,
                                                  "frequency", G_TYPE_UINT, (guint) GST_TIME_AS_MSECONDS (RETRY_INTERVAL),
                                                  "period", G_TYPE_UINT, (guint) GST_TIME_AS_MSECONDS (period),
                                                  "deadline", G_TYPE_UINT, (guint) GST_TIME_AS_MSECONDS (period),
                                                  "packet-spacing", G_TYPE_UINT64, (guint64) 0,
                                                  "avg-rtt", G_TYPE_UINT, 0u,
                                                  NULL));
}

/* Called with the object lock. Asks again for missing packets whose last
 * request has gone unanswered for RETRY_INTERVAL and gives up on those
 * missing for longer than the retry period. */
static void
retry_missing (KaigiNackRequester *self,
               GstClockTime        now,
               GPtrArray          *requests)
{
  GstClockTime period = retry_period (self);
  guint i = 0;

  while (i < self->missing->len)
    {
      Missing *m = &g_array_index (self->missing, Missing, i);

      if (now >= m->missing_since + period)
        {
          GST_LOG_OBJECT (self, "#%u lost", (guint) (m->seq & 0xffff));
          self->num_lost++;
          g_array_remove_index (self->missing, i);
          continue;
        }
      if (self->do_retransmission && now >= m->requested + RETRY_INTERVAL)
        {
          m->retries++;
          m->requested = now;
          self->rtx_count++;
          g_ptr_array_add (requests, make_request (self, m, now));
        }
      i++;
    }
}

/* Called with the object lock. Notes the packets between the highest so
 * far and @seq as missing and asks for them at once. */
static void
add_missing (KaigiNackRequester *self,
             guint64             first,
             guint64             end,
             GstClockTime        now,
             GPtrArray          *requests)
{
  if (end - first > MAX_MISSING)
    {
      self->num_lost += end - first - MAX_MISSING;
      first = end - MAX_MISSING;
    }

  for (guint64 seq = first; seq < end; seq++)
    {
      Missing m = { seq, now, now, 0 };

      if (self->missing->len == MAX_MISSING)
        {
          self->num_lost++;
          g_array_remove_index (self->missing, 0);
        }
      g_array_append_val (self->missing, m);
      if (self->do_retransmission)
        {
          self->rtx_count++;
          g_ptr_array_add (requests, make_request (self, &m, now));
        }
    }
}

/* Called with the object lock */
static gboolean
forget_missing (KaigiNackRequester *self,
                guint64             seq)
{
  for (guint i = 0; i < self->missing->len; i++)
    if (g_array_index (self->missing, Missing, i).seq == seq)
      {
        g_array_remove_index (self->missing, i);
        return TRUE;
      }
  return FALSE;
}

/* Called with the object lock. Whether to pass the packet on; requests
 * for missing packets go to @requests. */
static gboolean
track_sequence (KaigiNackRequester *self,
                guint16             seqnum,
                gboolean            is_rtx,
                GstClockTime        now,
                GPtrArray          *requests)
{
  gint diff;
  guint64 seq;

  if (!self->have_seq)
    {
      self->have_seq = TRUE;
      /* Room below for packets that come out of order at the start */
      self->max_seq = (G_GUINT64_CONSTANT (1) << 16) + seqnum;
      set_received (self, self->max_seq, TRUE);
      return TRUE;
    }

  diff = (gint16) (seqnum - (guint16) self->max_seq);
  seq = self->max_seq + diff;

  if (diff > 0)
    {
      self->too_old = 0;
      if (diff > MAX_DROPOUT)
        {
          GST_DEBUG_OBJECT (self, "sequence jumps by %d: restarting", diff);
          reset_sequence (self);
          return track_sequence (self, seqnum, is_rtx, now, requests);
        }
      for (guint64 s = self->max_seq + 1; s <= seq && s <= self->max_seq + WINDOW; s++)
        set_received (self, s, FALSE);
      if (GST_CLOCK_TIME_IS_VALID (now))
        {
          retry_missing (self, now, requests);
          add_missing (self, self->max_seq + 1, seq, now, requests);
        }
      self->max_seq = seq;
      set_received (self, seq, TRUE);
      return TRUE;
    }

  if (diff == 0 || (-diff < WINDOW && was_received (self, seq)))
    {
      self->num_duplicates++;
      return FALSE;
    }

  if (-diff >= WINDOW)
    {
      self->num_late++;
      if (++self->too_old > MAX_TOO_OLD)
        {
          GST_DEBUG_OBJECT (self, "sequence went back by %d: restarting", -diff);
          reset_sequence (self);
          return track_sequence (self, seqnum, is_rtx, now, requests);
        }
      return FALSE;
    }

  /* Out of order: late, or a retransmission (RFC 4588, flagged by
   * rtprtxreceive) */
  set_received (self, seq, TRUE);
  if (forget_missing (self, seq) && is_rtx)
    self->rtx_success_count++;
  return TRUE;
}

/* Extends @rtptime next to the last one; called with the object lock */
static guint64
extend_rtptime (KaigiNackRequester *self,
                guint32             rtptime)
{
  if (self->last_rtptime == G_MAXUINT64)
    return (G_GUINT64_CONSTANT (1) << 32) + rtptime;
  return self->last_rtptime + (gint32) (rtptime - (guint32) self->last_rtptime);
}

/* Called with the object lock. The time of @ext_rtptime in the mapping:
 * base_time + skew + (RTP time since base), in ns */
static GstClockTimeDiff
mapped_time (KaigiNackRequester *self,
             guint64             ext_rtptime,
             gint                clock_rate)
{
  GstClockTimeDiff since;

  if (ext_rtptime >= self->base_rtptime)
    since = gst_util_uint64_scale_int (ext_rtptime - self->base_rtptime, GST_SECOND, clock_rate);
  else
    since = -(GstClockTimeDiff) gst_util_uint64_scale_int (self->base_rtptime - ext_rtptime,
                                                           GST_SECOND, clock_rate);
  return (GstClockTimeDiff) self->base_time + self->skew + since;
}

/* Called with the object lock. The output time of a packet: its RTP time
 * on a mapping that follows the least-delayed arrivals (a slave-mode
 * jitterbuffer's, without the wait), plus ts-offset. */
static GstClockTime
packet_time (KaigiNackRequester *self,
             guint32             rtptime,
             gint                clock_rate,
             GstClockTime        arrival,
             gboolean            in_order)
{
  guint64 ext = extend_rtptime (self, rtptime);
  GstClockTimeDiff delay, time;

  if (!GST_CLOCK_TIME_IS_VALID (self->base_time))
    {
      self->base_rtptime = ext;
      self->base_time = arrival;
      self->window_start = arrival;
    }
  if (self->last_rtptime == G_MAXUINT64 || ext > self->last_rtptime)
    self->last_rtptime = ext;

  if (in_order)
    {
      delay = (GstClockTimeDiff) arrival - (mapped_time (self, ext, clock_rate) - self->skew);
      if (ABS (delay - self->skew) > RESYNC_THRESHOLD)
        {
          GST_DEBUG_OBJECT (self, "%" G_GINT64_FORMAT " ns off the mapping: resyncing",
                            delay - self->skew);
          self->base_rtptime = ext;
          self->base_time = arrival;
          self->skew = 0;
          self->window_min = G_MAXINT64;
          self->window_start = arrival;
        }
      else if (delay < self->skew)
        self->skew = delay;
      else
        self->window_min = MIN (self->window_min, delay);

      if (arrival >= self->window_start + SKEW_WINDOW)
        {
          if (self->window_min != G_MAXINT64 && self->window_min > self->skew)
            self->skew = self->window_min;
          self->window_min = G_MAXINT64;
          self->window_start = arrival;
        }
    }

  time = mapped_time (self, ext, clock_rate) + self->ts_offset;
  return time > 0 ? (GstClockTime) time : 0;
}

static gint
clock_rate_of (KaigiNackRequester *self,
               guint8              pt)
{
  GstCaps *caps = NULL;
  gint rate;

  GST_OBJECT_LOCK (self);
  rate = self->pt_clock_rate[pt];
  GST_OBJECT_UNLOCK (self);
  if (rate != 0)
    return rate;

  g_signal_emit (self, signals[SIGNAL_REQUEST_PT_MAP], 0, (guint) pt, &caps);
  if (caps == NULL ||
      !gst_structure_get_int (gst_caps_get_structure (caps, 0), "clock-rate", &rate) ||
      rate <= 0)
    rate = -1;
  GST_DEBUG_OBJECT (self, "payload type %u: clock rate %d", pt, rate);
  if (caps)
    gst_caps_unref (caps);

  GST_OBJECT_LOCK (self);
  self->pt_clock_rate[pt] = rate;
  GST_OBJECT_UNLOCK (self);
  return rate;
}

static GstFlowReturn
kaigi_nack_requester_chain (GstPad    *pad,
                            GstObject *parent,
                            GstBuffer *buffer)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (parent);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  g_autoptr(GPtrArray) requests = g_ptr_array_new ();
  GstClockTime arrival, time = GST_CLOCK_TIME_NONE, arrived = GST_CLOCK_TIME_NONE;
  guint16 seqnum;
  guint32 rtptime;
  guint8 pt;
  gint rate;
  gboolean is_rtx, in_order, pass;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    {
      GST_WARNING_OBJECT (self, "dropping a packet that is not RTP");
      gst_buffer_unref (buffer);
      return GST_FLOW_OK;
    }
  seqnum = gst_rtp_buffer_get_seq (&rtp);
  rtptime = gst_rtp_buffer_get_timestamp (&rtp);
  pt = gst_rtp_buffer_get_payload_type (&rtp);
  GST_OBJECT_LOCK (self);
  self->ssrc = gst_rtp_buffer_get_ssrc (&rtp);
  GST_OBJECT_UNLOCK (self);
  gst_rtp_buffer_unmap (&rtp);

  arrival = GST_BUFFER_DTS_IS_VALID (buffer) ? GST_BUFFER_DTS (buffer) : GST_BUFFER_PTS (buffer);
  is_rtx = GST_BUFFER_FLAG_IS_SET (buffer, GST_RTP_BUFFER_FLAG_RETRANSMISSION);
  rate = clock_rate_of (self, pt);

  GST_OBJECT_LOCK (self);
  in_order = !self->have_seq || (gint16) (seqnum - (guint16) self->max_seq) > 0;
  pass = track_sequence (self, seqnum, is_rtx, arrival, requests);
  if (pass && rate > 0 && GST_CLOCK_TIME_IS_VALID (arrival))
    {
      if (rate != self->clock_rate)
        reset_timing (self);
      self->clock_rate = rate;
      time = packet_time (self, rtptime, rate, arrival, in_order && !is_rtx);
      arrived = (GstClockTimeDiff) arrival + self->ts_offset > 0 ? arrival + self->ts_offset : 0;
    }
  if (pass)
    self->num_pushed++;
  GST_OBJECT_UNLOCK (self);

  for (guint i = 0; i < requests->len; i++)
    {
      GST_LOG_OBJECT (self, "asking for %" GST_PTR_FORMAT, requests->pdata[i]);
      gst_pad_push_event (self->sinkpad, requests->pdata[i]);
    }

  if (!pass)
    {
      GST_LOG_OBJECT (self, "dropping #%u", seqnum);
      gst_buffer_unref (buffer);
      return GST_FLOW_OK;
    }

  if (GST_CLOCK_TIME_IS_VALID (time))
    {
      buffer = gst_buffer_make_writable (buffer);
      GST_BUFFER_PTS (buffer) = time;
      GST_BUFFER_DTS (buffer) = arrived;
    }
  return gst_pad_push (self->srcpad, buffer);
}

static gboolean
kaigi_nack_requester_sink_event (GstPad    *pad,
                                 GstObject *parent,
                                 GstEvent  *event)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (parent);

  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_CAPS:
      {
        GstCaps *caps;
        const GstStructure *s;
        gint rate, pt;

        gst_event_parse_caps (event, &caps);
        s = gst_caps_get_structure (caps, 0);
        if (gst_structure_get_int (s, "clock-rate", &rate) && rate > 0 &&
            gst_structure_get_int (s, "payload", &pt) && pt >= 0 && pt < 128)
          {
            GST_OBJECT_LOCK (self);
            self->pt_clock_rate[pt] = rate;
            GST_OBJECT_UNLOCK (self);
          }
        break;
      }
    case GST_EVENT_FLUSH_STOP:
      reset (self);
      break;
    default:
      break;
    }
  return gst_pad_event_default (pad, parent, event);
}

static GstFlowReturn
kaigi_nack_requester_chain_rtcp (GstPad    *pad,
                                 GstObject *parent,
                                 GstBuffer *buffer)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (parent);
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  GstStructure *sync = NULL;
  guint32 ssrc, rtptime;
  gboolean is_sr;

  if (!gst_rtcp_buffer_validate_reduced (buffer) ||
      !gst_rtcp_buffer_map (buffer, GST_MAP_READ, &rtcp))
    goto done;
  is_sr = gst_rtcp_buffer_get_first_packet (&rtcp, &packet) &&
          gst_rtcp_packet_get_type (&packet) == GST_RTCP_TYPE_SR;
  if (is_sr)
    gst_rtcp_packet_sr_get_sender_info (&packet, &ssrc, NULL, &rtptime, NULL, NULL);
  gst_rtcp_buffer_unmap (&rtcp);
  if (!is_sr)
    goto done;

  GST_OBJECT_LOCK (self);
  if (GST_CLOCK_TIME_IS_VALID (self->base_time) && self->clock_rate > 0)
    {
      guint64 ext = extend_rtptime (self, rtptime);
      guint64 diff = ext > self->last_rtptime ? ext - self->last_rtptime : self->last_rtptime - ext;

      if (ext < self->base_rtptime)
        GST_DEBUG_OBJECT (self, "sender report from before the first packet");
      else if (self->max_rtcp_rtp_time_diff >= 0 &&
               diff > gst_util_uint64_scale_int (self->max_rtcp_rtp_time_diff, self->clock_rate, 1000))
        GST_DEBUG_OBJECT (self, "sender report %" G_GUINT64_FORMAT " RTP units off the packets",
                          diff);
      else
        sync = gst_structure_new ("application/x-rtp-sync",
                                  "base-rtptime", G_TYPE_UINT64, self->base_rtptime,
                                  "base-time", G_TYPE_UINT64, (guint64) (self->base_time + self->skew),
                                  "clock-rate", G_TYPE_UINT, (guint) self->clock_rate,
                                  "clock-base", G_TYPE_UINT64, self->base_rtptime,
                                  "sr-ext-rtptime", G_TYPE_UINT64, ext,
                                  "sr-buffer", GST_TYPE_BUFFER, buffer,
                                  NULL);
    }
  GST_OBJECT_UNLOCK (self);

  if (sync)
    {
      GST_DEBUG_OBJECT (self, "sync %" GST_PTR_FORMAT, sync);
      g_signal_emit (self, signals[SIGNAL_HANDLE_SYNC], 0, sync);
      gst_structure_free (sync);
    }

done:
  gst_buffer_unref (buffer);
  return GST_FLOW_OK;
}

/* The RTCP pad's stream-start, caps and segment are not ours to pass on */
static gboolean
kaigi_nack_requester_rtcp_event (GstPad    *pad,
                                 GstObject *parent,
                                 GstEvent  *event)
{
  gst_event_unref (event);
  return TRUE;
}

static gboolean
kaigi_nack_requester_src_event (GstPad    *pad,
                                GstObject *parent,
                                GstEvent  *event)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (parent);

  /* Keyframe requests and subscribers' retransmission requests go to the
   * RTP path only */
  return gst_pad_push_event (self->sinkpad, event);
}

static gboolean
kaigi_nack_requester_src_query (GstPad    *pad,
                                GstObject *parent,
                                GstQuery  *query)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (parent);

  /* Including the latency query: nothing is held here */
  return gst_pad_peer_query (self->sinkpad, query);
}

static GstPad *
kaigi_nack_requester_request_new_pad (GstElement     *element,
                                      GstPadTemplate *templ,
                                      const char     *name,
                                      const GstCaps  *caps)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (element);
  GstPad *pad;

  GST_OBJECT_LOCK (self);
  if (self->rtcp_sinkpad)
    {
      GST_OBJECT_UNLOCK (self);
      return NULL;
    }
  GST_OBJECT_UNLOCK (self);

  pad = gst_pad_new_from_static_template (&rtcp_sink_template, "sink_rtcp");
  gst_pad_set_chain_function (pad, kaigi_nack_requester_chain_rtcp);
  gst_pad_set_event_function (pad, kaigi_nack_requester_rtcp_event);
  GST_OBJECT_LOCK (self);
  self->rtcp_sinkpad = pad;
  GST_OBJECT_UNLOCK (self);
  gst_pad_set_active (pad, TRUE);
  gst_element_add_pad (element, pad);
  return pad;
}

static void
kaigi_nack_requester_release_pad (GstElement *element,
                                  GstPad     *pad)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (element);

  GST_OBJECT_LOCK (self);
  if (pad != self->rtcp_sinkpad)
    {
      GST_OBJECT_UNLOCK (self);
      return;
    }
  self->rtcp_sinkpad = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
}

static GstStateChangeReturn
kaigi_nack_requester_change_state (GstElement     *element,
                                   GstStateChange  transition)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (element);

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    reset (self);
  return GST_ELEMENT_CLASS (kaigi_nack_requester_parent_class)->change_state (element, transition);
}

static void
clear_pt_map (KaigiNackRequester *self)
{
  GST_OBJECT_LOCK (self);
  memset (self->pt_clock_rate, 0, sizeof self->pt_clock_rate);
  GST_OBJECT_UNLOCK (self);
}

static GstStructure *
get_stats (KaigiNackRequester *self)
{
  GstStructure *stats;

  GST_OBJECT_LOCK (self);
  stats = gst_structure_new ("application/x-rtp-jitterbuffer-stats",
                             "num-pushed", G_TYPE_UINT64, self->num_pushed,
                             "num-lost", G_TYPE_UINT64, self->num_lost,
                             "num-late", G_TYPE_UINT64, self->num_late,
                             "num-duplicates", G_TYPE_UINT64, self->num_duplicates,
                             "rtx-count", G_TYPE_UINT64, self->rtx_count,
                             "rtx-success-count", G_TYPE_UINT64, self->rtx_success_count,
                             NULL);
  GST_OBJECT_UNLOCK (self);
  return stats;
}

static void
kaigi_nack_requester_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (object);

  switch (prop_id)
    {
    case PROP_STATS:
      g_value_take_boxed (value, get_stats (self));
      return;
    default:
      break;
    }

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency_ms);
      break;
    case PROP_DO_RETRANSMISSION:
      g_value_set_boolean (value, self->do_retransmission);
      break;
    case PROP_TS_OFFSET:
      g_value_set_int64 (value, self->ts_offset);
      break;
    case PROP_MAX_RTCP_RTP_TIME_DIFF:
      g_value_set_int (value, self->max_rtcp_rtp_time_diff);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  GST_OBJECT_UNLOCK (self);
}

static void
kaigi_nack_requester_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LATENCY:
      self->latency_ms = g_value_get_uint (value);
      break;
    case PROP_DO_RETRANSMISSION:
      self->do_retransmission = g_value_get_boolean (value);
      break;
    case PROP_TS_OFFSET:
      self->ts_offset = g_value_get_int64 (value);
      GST_DEBUG_OBJECT (self, "ts-offset %" G_GINT64_FORMAT " ns", self->ts_offset);
      break;
    case PROP_MAX_RTCP_RTP_TIME_DIFF:
      self->max_rtcp_rtp_time_diff = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
  GST_OBJECT_UNLOCK (self);
}

static void
kaigi_nack_requester_finalize (GObject *object)
{
  KaigiNackRequester *self = KAIGI_NACK_REQUESTER (object);

  g_array_unref (self->missing);
  G_OBJECT_CLASS (kaigi_nack_requester_parent_class)->finalize (object);
}

static void
kaigi_nack_requester_class_init (KaigiNackRequesterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  object_class->get_property = kaigi_nack_requester_get_property;
  object_class->set_property = kaigi_nack_requester_set_property;
  object_class->finalize = kaigi_nack_requester_finalize;

  element_class->change_state = kaigi_nack_requester_change_state;
  element_class->request_new_pad = kaigi_nack_requester_request_new_pad;
  element_class->release_pad = kaigi_nack_requester_release_pad;

  /**
   * KaigiNackRequester:latency:
   *
   * rtpbin's `latency` (ms). Nothing is held for it here; a missing packet
   * is asked for during the larger of this and 200 ms.
   */
  properties[PROP_LATENCY] =
    g_param_spec_uint ("latency", "Latency", "How long missing packets are asked for (ms)",
                       0, G_MAXUINT, DEFAULT_LATENCY_MS,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * KaigiNackRequester:do-retransmission:
   *
   * Send GstRTPRetransmissionRequest events upstream for missing packets;
   * webrtcbin sets it where NACK feedback was negotiated (RFC 4585).
   */
  properties[PROP_DO_RETRANSMISSION] =
    g_param_spec_boolean ("do-retransmission", "Do retransmission",
                          "Ask for missing packets (NACK)", FALSE,
                          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * KaigiNackRequester:ts-offset:
   *
   * Added to every output timestamp (ns); rtpbin sets it for lip sync.
   */
  properties[PROP_TS_OFFSET] =
    g_param_spec_int64 ("ts-offset", "Timestamp offset", "Added to output timestamps (ns)",
                        G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * KaigiNackRequester:max-rtcp-rtp-time-diff:
   *
   * Sender reports whose RTP time is further than this (ms) from the
   * packets' are not used for lip sync; -1: no limit.
   */
  properties[PROP_MAX_RTCP_RTP_TIME_DIFF] =
    g_param_spec_int ("max-rtcp-rtp-time-diff", "Max RTCP RTP time diff",
                      "Largest difference between a sender report and the packets (ms)",
                      -1, G_MAXINT, DEFAULT_MAX_RTCP_RTP_TIME_DIFF,
                      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /**
   * KaigiNackRequester:stats:
   *
   * Counters under rtpjitterbuffer's names, as webrtcbin's getStats()
   * reads them (all guint64): num-pushed, num-lost (given up on),
   * num-late (too old to pass on), num-duplicates, rtx-count (requests
   * sent), rtx-success-count (missing packets recovered by RTX).
   */
  properties[PROP_STATS] =
    g_param_spec_boxed ("stats", "Statistics", "Packet and retransmission counters",
                        GST_TYPE_STRUCTURE,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * KaigiNackRequester::request-pt-map:
   * @self: the element
   * @pt: an RTP payload type
   *
   * Asks for the caps of @pt, to learn its clock rate (rtpbin answers).
   *
   * Returns: (transfer full) (nullable): the caps
   */
  signals[SIGNAL_REQUEST_PT_MAP] =
    g_signal_new ("request-pt-map", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, GST_TYPE_CAPS, 1, G_TYPE_UINT);
  /**
   * KaigiNackRequester::handle-sync:
   * @self: the element
   * @sync: base-rtptime, base-time, clock-rate, clock-base, sr-ext-rtptime
   *   and sr-buffer, as rtpjitterbuffer gives them
   *
   * A sender report arrived; rtpbin connects to this for lip sync.
   */
  signals[SIGNAL_HANDLE_SYNC] =
    g_signal_new ("handle-sync", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  GST_TYPE_STRUCTURE | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * KaigiNackRequester::clear-pt-map:
   * @self: the element
   *
   * Forgets the clock rates learnt; they are asked for again.
   */
  signals[SIGNAL_CLEAR_PT_MAP] =
    g_signal_new_class_handler ("clear-pt-map", G_TYPE_FROM_CLASS (klass),
                                G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                                G_CALLBACK (clear_pt_map), NULL, NULL, NULL,
                                G_TYPE_NONE, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &rtcp_sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
                                         "Kaigi NACK requester", "Filter/Network/RTP",
                                         "Passes RTP on as it arrives and asks for what is missing",
                                         "Kaigi developers");

  GST_DEBUG_CATEGORY_INIT (kaigi_nack_debug, "kaigi-nack", 0, "Kaigi NACK requester");
}

static void
kaigi_nack_requester_init (KaigiNackRequester *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, kaigi_nack_requester_chain);
  gst_pad_set_event_function (self->sinkpad, kaigi_nack_requester_sink_event);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, kaigi_nack_requester_src_event);
  gst_pad_set_query_function (self->srcpad, kaigi_nack_requester_src_query);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->latency_ms = DEFAULT_LATENCY_MS;
  self->max_rtcp_rtp_time_diff = DEFAULT_MAX_RTCP_RTP_TIME_DIFF;
  self->missing = g_array_new (FALSE, FALSE, sizeof (Missing));
  self->clock_rate = -1;
  reset_timing (self);
}

/**
 * kaigi_nack_requester_new:
 *
 * An element for rtpbin's `request-jitterbuffer` signal on a forwarding
 * server: packets pass through on the streaming thread as they arrive,
 * with a NACK (RFC 4585 §6.2.1) requested for each one missing; see the
 * file's comment. Any thread.
 *
 * Returns: (transfer floating): the element
 */
GstElement *
kaigi_nack_requester_new (void)
{
  return g_object_new (KAIGI_TYPE_NACK_REQUESTER, NULL);
}
