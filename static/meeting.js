// A room's meeting in the browser: camera, microphone and screen go to the server's relay, and
// everyone else's media comes back, one connection per published source (see docs/protocol.md).
// What is on screen is the stage's (stage.js); this module does the media and the signalling.
import { showToast } from "/static/realtime.js";
import { Stage, stageMarkup } from "/static/stage.js";

const GATHER_TIMEOUT_MS = 3000;
// A connection "disconnected" this long (the network changed, or went away for a moment) is
// given up and the meeting rebuilt; "failed" is rebuilt at once.
const DISCONNECTED_GRACE_MS = 4000;
// How long the signalling connection gets to answer before it is taken for dead as well.
const SIGNALLING_PROBE_MS = 2000;

// The relay does not trickle ICE: send a description only once gathering is complete.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); } };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

export class Meeting {
  // `personOf(userId)`: the person ({display_name, avatar_url?}) the page knows, or undefined.
  constructor(socket, personOf, root) {
    this.socket = socket;
    this.root = root;
    this.stage = new Stage(root, personOf);
    this.joined = false;
    this.iceServers = [];
    this.local = null;           // camera + microphone stream
    this.publishing = new Map(); // source -> RTCPeerConnection
    this.receiving = new Map();  // peer id -> { pc, userId, source, tile }
    this.screen = null;
    this.speaker = null;
    this.recovering = false;
    // What the person switched. It outlasts a rejoin (a reconnection does not unmute anyone),
    // and the others are told (media:state): a muted microphone still sends silence.
    this.muted = false;
    this.cameraOff = false;
    socket.on("media:offer", (offer) => this.onOffer(offer).catch((e) => showToast(e.message)));
    socket.on("media:closed", ({ peer_id }) => this.dropPeer(peer_id));
    socket.on("media:left", () => this.reset());
    // The process holding this room's meeting is stopping (a rolling deploy): join again, which
    // places the meeting on a process that stays. (A tab of the stopping process itself is
    // told "server:restarting" instead and rejoins after reconnecting.)
    socket.on("media:restart", () => {
      const wasJoined = this.joined;
      this.reset();
      if (wasJoined && !socket.restarting) this.join();
    });
    socket.on("media:speaker", ({ connection, user_id }) => this.highlight(connection, user_id));
    socket.on("media:members", ({ members }) => { if (this.joined) this.stage.setMembers(members); });
    socket.on("disconnect", () => this.reset());
    root.querySelector(".mic").addEventListener("click", () => this.toggle("audio"));
    root.querySelector(".cam").addEventListener("click", () => this.toggle("video"));
    root.querySelector(".share").addEventListener("click", () => this.toggleScreen());
  }

  // Media runs while at least two people are in the room; called whenever that may change.
  async follow(inRoom, peopleInRoom) {
    const wanted = inRoom && peopleInRoom >= 2;
    if (wanted && !this.joined) await this.join();
    else if (!wanted && this.joined) await this.leave();
  }

  async join() {
    this.joined = true;
    this.stage.show(true);
    try {
      // Say which video codecs this browser decodes: a publisher sending another one is then
      // transcoded for us (the relay's explicit fallback) instead of sent undecodable.
      const names = (RTCRtpReceiver.getCapabilities?.("video")?.codecs || []).map((c) => c.mimeType.split("/")[1].toUpperCase());
      const videoCodecs = ["VP8", "H264"].filter((name) => names.includes(name));
      const joined = await this.socket.call("media:join", videoCodecs.length ? { video_codecs: videoCodecs } : {});
      this.iceServers = joined.ice_servers;
      const me = joined.members.find((m) => m.connection === this.socket.id);
      this.stage.setMine({ connection: this.socket.id, userId: me?.user_id ?? null });
      this.stage.setMembers(joined.members);
      if (!joined.may_publish) { this.setButtons(false); return; }
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: { ideal: 30 } } });
      this.applySwitches();
      this.addTile("me", "camera", this.local, null, true);
      await this.publish("camera", this.local);
      this.setButtons(true);
      if (this.muted || this.cameraOff) this.announce();
    } catch (error) {
      showToast(`Meeting: ${error.message}`);
    }
  }

  async publish(source, stream) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    for (const track of stream.getTracks()) {
      // Video in three temporal layers (7.5, 15 and 30 fps of 30): the relay forwards to each
      // viewer the layers its link carries. A weak uplink lowers quality, not frame rate.
      const video = track.kind === "video";
      const { sender } = pc.addTransceiver(track, video ? { direction: "sendonly", sendEncodings: [{ scalabilityMode: "L1T3" }] } : { direction: "sendonly" });
      if (video && source === "camera") {
        const parameters = sender.getParameters();
        parameters.degradationPreference = "maintain-framerate";
        await sender.setParameters(parameters).catch(() => {});
      }
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const reply = await this.socket.call("media:publish", { source, sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    this.publishing.get(source)?.close();
    this.publishing.set(source, pc);
    this.watch(pc);
  }

  async onOffer({ peer_id, publisher, user_id, source, sdp }) {
    if (!this.joined) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const stream = new MediaStream();
    const entry = { pc, userId: user_id, source, tile: null };
    this.receiving.set(peer_id, entry);
    this.watch(pc);
    pc.addEventListener("track", (event) => {
      stream.addTrack(event.track);
      if (!entry.tile) entry.tile = this.addTile(peer_id, source, stream, user_id, false, publisher);
      else this.stage.trackAdded(entry.tile);
    });
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await this.socket.call("media:answer", { peer_id, sdp: pc.localDescription.sdp });
  }

  // The relay cannot restart ICE on a connection (aiortc has no ICE restart), so a connection
  // that fails — the laptop changed networks, Wi-Fi dropped — is replaced: the whole meeting is
  // joined again, which makes new connections over whatever network there is now.
  watch(pc) {
    let timer = null;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(timer);
      if (pc.connectionState === "failed") this.recover();
      else if (pc.connectionState === "disconnected") {
        timer = setTimeout(() => { if (pc.connectionState === "disconnected") this.recover(); }, DISCONNECTED_GRACE_MS);
      }
    });
  }

  async recover() {
    if (this.recovering || !this.joined) return;
    this.recovering = true;
    try {
      this.reset();
      showToast("Reconnecting the meeting…");
      try {
        await this.socket.call("media:leave", {}, SIGNALLING_PROBE_MS);
      } catch {
        // The signalling connection went with the network: reconnect it now rather than wait
        // for its ping timeout. The office comes back to the same room, and the meeting with it.
        this.socket.disconnect();
        this.socket.connect();
        return;
      }
      await this.join();
    } finally {
      this.recovering = false;
    }
  }

  addTile(key, source, stream, userId, mine, connection) {
    return this.stage.add({ key, source, stream, userId, mine, connection: mine ? this.socket.id : connection });
  }

  dropPeer(peerId) {
    const entry = this.receiving.get(peerId);
    if (!entry) return;
    entry.pc.close();
    this.stage.remove(entry.tile);
    this.receiving.delete(peerId);
  }

  highlight(connection, userId) {
    this.speaker = userId;
    this.stage.setSpeaker(connection);
  }

  toggle(kind) {
    if (!this.local) return;
    if (kind === "audio") this.muted = !this.muted;
    else this.cameraOff = !this.cameraOff;
    this.applySwitches();
    this.announce();
  }

  // The tracks, the buttons and my own tile follow the switches.
  applySwitches() {
    this.local?.getAudioTracks().forEach((t) => { t.enabled = !this.muted; });
    this.local?.getVideoTracks().forEach((t) => { t.enabled = !this.cameraOff; });
    this.root.querySelector(".mic").textContent = this.muted ? "Unmute" : "Mute";
    this.root.querySelector(".cam").textContent = this.cameraOff ? "Camera on" : "Camera off";
    this.stage.setMine({ muted: this.muted, cameraOff: this.cameraOff });
  }

  announce() {
    this.socket.call("media:state", { muted: this.muted, camera_off: this.cameraOff })
      .catch((error) => showToast(`Meeting: ${error.message}`));
  }

  async toggleScreen() {
    const button = this.root.querySelector(".share");
    if (this.screen) {
      this.screen.getTracks().forEach((t) => t.stop());
      this.screen = null;
      this.publishing.get("screen")?.close();
      this.publishing.delete("screen");
      this.stage.remove(this.root.querySelector('[data-peer="me"][data-source="screen"]')?.closest("figure"));
      button.textContent = "Share screen";
      await this.socket.call("media:unpublish", { source: "screen" }).catch(() => {});
      return;
    }
    try {
      this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      this.screen.getVideoTracks()[0].addEventListener("ended", () => { if (this.screen) this.toggleScreen(); });
      this.addTile("me", "screen", this.screen, null, true);
      await this.publish("screen", this.screen);
      button.textContent = "Stop sharing";
    } catch (error) {
      this.screen = null;
      showToast(`Screen share: ${error.message}`);
    }
  }

  setButtons(enabled) {
    for (const selector of [".mic", ".cam", ".share"]) this.root.querySelector(selector).disabled = !enabled;
  }

  async leave() {
    this.reset();
    await this.socket.call("media:leave").catch(() => {});
  }

  reset() {
    this.joined = false;
    for (const pc of this.publishing.values()) pc.close();
    this.publishing.clear();
    for (const id of [...this.receiving.keys()]) this.dropPeer(id);
    for (const stream of [this.local, this.screen]) stream?.getTracks().forEach((t) => t.stop());
    this.local = null;
    this.screen = null;
    this.stage.clear();
    this.stage.leaveFullscreen();
    this.stage.show(false);
    this.root.querySelector(".share").textContent = "Share screen";
  }
}

export function meetingMarkup() {
  return stageMarkup();
}
