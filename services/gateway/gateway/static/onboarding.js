// The onboarding page: reads its token from the address fragment, talks Socket.IO to the
// gateway and shows where the admin is. No framework; one state, one render.
(function () {
  "use strict";

  var app = document.getElementById("app");
  var views = app.querySelectorAll("[data-view]");
  var steps = app.querySelectorAll("[data-step]");
  var STEP_ORDER = ["qr", "linked", "activating", "done"];
  var STATUS_LABELS = {
    pending: "ожидает WhatsApp",
    activating: "подключается",
    active: "подключено",
    activation_failed: "ошибка",
    frozen: "приостановлено",
    uninstalled: "отключено"
  };
  var countdownTimer = null;
  var socket = null;
  var finished = false;

  function readToken() {
    var match = /(?:^|[#&])token=([^&]+)/.exec(window.location.hash);
    if (match) {
      // Out of the address bar and history: the token must not be shared by copying the URL.
      window.history.replaceState(null, "", window.location.pathname);
      return decodeURIComponent(match[1]);
    }
    return null;
  }

  function show(view) {
    app.setAttribute("data-stage", view);
    views.forEach(function (section) {
      section.hidden = section.getAttribute("data-view") !== view;
    });
    var reached = STEP_ORDER.indexOf(view === "expired" || view === "phone" ? "qr" : view);
    steps.forEach(function (step) {
      var index = STEP_ORDER.indexOf(step.getAttribute("data-step"));
      step.classList.toggle("current", index === reached);
      step.classList.toggle("passed", reached >= 0 && index < reached);
    });
    if (view !== "qr") stopCountdown();
  }

  function stopCountdown() {
    if (countdownTimer) window.clearInterval(countdownTimer);
    countdownTimer = null;
  }

  function showQr(data) {
    document.getElementById("qr-image").src = data.image;
    show("qr");
    var expiresAt = Date.parse(data.expiresAt);
    var label = document.getElementById("qr-countdown");
    stopCountdown();
    function tick() {
      var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
      label.textContent = String(left);
      // No new code arrived in time: let the admin ask for one.
      if (left <= 0 && Date.now() - expiresAt > 3000) show("expired");
    }
    tick();
    countdownTimer = window.setInterval(tick, 1000);
  }

  var salons = [];

  function renderSalons() {
    var list = document.getElementById("salons");
    list.textContent = "";
    salons.forEach(function (salon) {
      var item = document.createElement("li");
      item.textContent = (salon.name || "Филиал " + salon.id) + ": " + (STATUS_LABELS[salon.status] || salon.status);
      list.appendChild(item);
    });
  }

  function showSalons(fresh) {
    if (!fresh) return;
    salons = fresh;
    renderSalons();
  }

  // Who YClients says is connecting: the admin sees it is their own connection.
  function showUser(user) {
    if (!user || !user.name) return;
    document.getElementById("connecting-user").textContent = user.name;
    document.getElementById("connecting").hidden = false;
  }

  // Events name the salons they concern; the database is re-read on the next check-status.
  function markSalons(ids, status) {
    if (!ids) return;
    salons.forEach(function (salon) {
      if (ids.indexOf(salon.id) >= 0) salon.status = status;
    });
    renderSalons();
  }

  function showError(error) {
    document.getElementById("error-message").textContent = error.message || "Что-то пошло не так.";
    var button = document.getElementById("error-action");
    var restart = document.getElementById("error-restart");
    button.hidden = true;
    restart.hidden = true;
    if (error.action === "request-qr") {
      button.textContent = "Получить новый QR-код";
      button.onclick = requestQr;
      button.hidden = false;
    } else if (error.action === "show-phone") {
      button.textContent = "Подключить по номеру телефона";
      button.onclick = function () { show("phone"); };
      button.hidden = false;
    } else if (error.action === "retry-activation") {
      button.textContent = "Повторить подключение";
      button.onclick = retryActivation;
      button.hidden = false;
    } else {
      restart.hidden = false;
    }
    show("error");
  }

  function onStatus(status) {
    showSalons(status.salons);
    showUser(status.user);
    var stage = status.stage;
    if (stage === "activating" || stage === "done") markSalons(status.salonIds, stage === "done" ? "active" : "activating");
    var whatsapp = status.whatsapp ? status.whatsapp.state : null;
    if (!stage && whatsapp) {
      // Expired, or stopped because a newer page of the same admin asked for a login.
      if (whatsapp === "qr_expired" || whatsapp === "stopped") stage = "expired";
      else if (whatsapp === "paired" || whatsapp === "restarting" || whatsapp === "connected") stage = "linked";
      else if (whatsapp === "logged_out" || whatsapp === "replaced" || whatsapp === "failed" || whatsapp === "client_too_old") {
        showError({ message: "WhatsApp отключился. Получите новый QR-код.", action: "request-qr" });
        return;
      }
    }
    if (!stage || finished) return;
    if (stage === "done") {
      finished = true;
      show("done");
    } else if (stage === "superseded") {
      showError({ message: "Эти филиалы подключаются по другой ссылке.", action: "restart" });
    } else if (stage === "failed") {
      showError({ message: status.activationError || "Не удалось подключить филиалы в YClients.", action: "retry-activation" });
    } else if (stage === "waiting" || stage === "qr") {
      // A QR is shown when it arrives; ask wa-session for one if nothing is running.
      if (app.getAttribute("data-stage") === "waiting") requestQr();
    } else {
      show(stage);
    }
  }

  function requestQr() {
    show("waiting");
    socket.emit("request-qr", {});
  }

  function retryActivation() {
    show("activating");
    fetch("/marketplace/api/activate", {
      method: "POST",
      headers: { Authorization: "Bearer " + token }
    }).then(function (response) {
      if (!response.ok) return response.json().then(showError);
    }).catch(function () {
      showError({ message: "Нет связи с сервером. Проверьте интернет и попробуйте ещё раз.", action: "retry-activation" });
    });
  }

  var token = readToken();
  var returnLink = document.getElementById("return-link");
  if (!token) {
    showError({ message: "Ссылка неполная: нет ключа доступа.", action: "restart" });
    return;
  }

  app.querySelectorAll('[data-action="request-qr"]').forEach(function (button) {
    button.addEventListener("click", requestQr);
  });
  app.querySelector('[data-action="show-phone"]').addEventListener("click", function () {
    show("phone");
  });
  document.getElementById("phone-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var phone = document.getElementById("phone").value;
    socket.emit("request-qr", { phone: phone });
  });

  // The offline demo only (the button exists when the gateway runs with DEMO_PHONE_URL).
  var demoScan = app.querySelector('[data-action="demo-scan"]');
  if (demoScan) {
    demoScan.addEventListener("click", function () {
      var note = document.getElementById("demo-scan-result");
      note.hidden = false;
      note.textContent = "Телефон сканирует…";
      fetch("/marketplace/api/demo/scan", {
        method: "POST",
        headers: { Authorization: "Bearer " + token }
      }).then(function (response) {
        return response.json().then(function (body) {
          note.textContent = response.ok ? "Отсканировано, подключаем WhatsApp…" : body.message;
        });
      }).catch(function () {
        note.textContent = "Нет связи с сервером. Попробуйте ещё раз.";
      });
    });
  }

  socket = window.io("/marketplace", { auth: { token: token }, transports: ["websocket", "polling"] });
  socket.on("connect", function () {
    document.getElementById("offline").hidden = true;
  });
  socket.on("disconnect", function () {
    if (!finished) document.getElementById("offline").hidden = false;
  });
  socket.on("connect_error", function (error) {
    // Refused by the server (bad or expired token): reconnecting will not help.
    if (error && error.data && error.data.code) {
      socket.close();
      showError(error.data);
    }
  });
  socket.on("qr", showQr);
  socket.on("pairing-code", function (data) {
    document.getElementById("pairing-hint").hidden = false;
    var code = document.getElementById("pairing-code");
    code.textContent = data.code;
    code.hidden = false;
    show("phone");
  });
  socket.on("status", onStatus);
  socket.on("connected", function () {
    finished = true;
    show("done");
  });
  socket.on("error", showError);
  // The server ended this page's access: said why once, then it disconnects.
  socket.on("revoked", function (data) {
    finished = true;
    if (data.reason === "activated") show("done");
    else showError(data);
  });
  returnLink.addEventListener("click", function () {
    if (socket) socket.close();
  });
})();
