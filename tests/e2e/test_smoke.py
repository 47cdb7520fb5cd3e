from tests.helpers import Client


async def test_mention_gets_answer(app, model):
    c = await Client.connect(app.ws_url("soyeon"))
    await c.say("@chatbot 안녕??")
    echo = await c.recv()
    assert echo["nickname"] == "soyeon" and echo["message"] == "@chatbot 안녕??"
    ans = await c.answer()
    assert ans["message"] == "answer 1"
    await c.close()
